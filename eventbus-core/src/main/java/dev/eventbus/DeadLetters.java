package dev.eventbus;

import dev.eventbus.spi.Capability;
import dev.eventbus.spi.Transport;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The dead letters of a bus: events its consumer groups gave up on, with why. Lists and replays them through the
 * transports that can ({@link Capability#DEAD_LETTER_STORE}); a replayed event is handled again by its group, by
 * the subscribers that had not handled it, with a fresh retry budget.
 *
 * <p>Thread-safe. Calls block on the transports' I/O.
 */
public final class DeadLetters {

    private final EventBus bus;
    private final Map<String, Transport> transports;

    DeadLetters(EventBus bus, Map<String, Transport> transports) {
        this.bus = bus;
        this.transports = transports;
    }

    /** Up to 1,000 dead letters of every group of this bus's service and beyond, oldest first per transport. */
    public List<DeadLetter> list() {
        return list(null, 1000);
    }

    /** Up to 1,000 dead letters of {@code group}. */
    public List<DeadLetter> list(String group) {
        return list(group, 1000);
    }

    /** Up to {@code limit} dead letters of {@code group} (every group when null). */
    public List<DeadLetter> list(String group, int limit) {
        List<DeadLetter> out = new ArrayList<>();
        for (Transport t : transports.values()) {
            if (out.size() >= limit) {
                break;
            }
            if (t.capabilities().contains(Capability.DEAD_LETTER_STORE)) {
                out.addAll(t.deadLetters().list(group, limit - out.size()));
            }
        }
        return out;
    }

    /**
     * Sends a dead letter back to its group. Returns false when it is no longer there (already replayed).
     *
     * @throws IllegalStateException if the bus is closed
     */
    public boolean replay(DeadLetter deadLetter) {
        if (bus.isClosed()) {
            throw new IllegalStateException("EventBus '" + bus.serviceName() + "' is closed: cannot replay");
        }
        for (Transport t : transports.values()) {
            if (t.capabilities().contains(Capability.DEAD_LETTER_STORE) && t.deadLetters().replay(deadLetter)) {
                return true;
            }
        }
        return false;
    }

    /** Replays every dead letter of {@code group}; returns how many were replayed. */
    public int replayAll(String group) {
        int n = 0;
        for (DeadLetter d : list(group, Integer.MAX_VALUE)) {
            if (replay(d)) {
                n++;
            }
        }
        return n;
    }
}
