package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;

import java.util.LinkedHashMap;
import java.util.Map;

/** Header bookkeeping shared by dead-letter replay paths. */
public final class Bookkeeping {

    private Bookkeeping() {
    }

    /**
     * The message as a dead letter is replayed: attempt and dead-letter bookkeeping ({@code eventbus-*}) removed
     * so the retry policy starts afresh, but {@link MessageHeaders#PENDING_SUBSCRIBERS} kept, so subscribers that
     * already handled it are not invoked again; no delay.
     */
    public static TransportMessage forReplay(TransportMessage m) {
        Map<String, String> removed = new LinkedHashMap<>();
        for (String k : m.headers().keySet()) {
            if (k.startsWith("eventbus-") && !k.equals(MessageHeaders.PENDING_SUBSCRIBERS)) {
                removed.put(k, null);
            }
        }
        return m.withHeaders(removed).withDeliverAt(null);
    }
}
