package dev.eventbus.jdbc.internal;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Wakes consumers in this JVM when something was appended to a stream of one database, whichever transport
 * instance appended it: the in-process half of "low latency without hammering the database" (the other half is
 * PostgreSQL {@code LISTEN/NOTIFY}, for other JVMs).
 */
public final class Wakeups {

    private static final ConcurrentHashMap<String, Set<Signal>> BY_STREAM = new ConcurrentHashMap<>();

    /**
     * This JVM's id in PostgreSQL notifications ({@code <origin>:<stream>}): a listener skips notifications from its
     * own JVM, whose consumers the appender already woke directly.
     */
    public static final String ORIGIN = java.util.UUID.randomUUID().toString().replace("-", "").substring(0, 12);

    /** The NOTIFY payload for an append to {@code stream} from this JVM. */
    public static String payload(String stream) {
        return ORIGIN + ":" + stream;
    }

    /** Wakes the consumers a NOTIFY payload names, unless it came from this JVM. */
    public static void wakeFromNotification(String database, String payload) {
        int colon = payload == null ? -1 : payload.indexOf(':');
        if (colon < 0) {
            return;
        }
        if (!payload.regionMatches(0, ORIGIN, 0, colon) || colon != ORIGIN.length()) {
            wake(database, payload.substring(colon + 1));
        }
    }

    private Wakeups() {
    }

    private static String key(String database, String stream) {
        return database + '\u0000' + stream;
    }

    public static void register(String database, String stream, Signal s) {
        BY_STREAM.computeIfAbsent(key(database, stream), k -> ConcurrentHashMap.newKeySet()).add(s);
    }

    public static void unregister(String database, String stream, Signal s) {
        Set<Signal> set = BY_STREAM.get(key(database, stream));
        if (set != null) {
            set.remove(s);
        }
    }

    public static void wake(String database, String stream) {
        Set<Signal> set = BY_STREAM.get(key(database, stream));
        if (set != null) {
            for (Signal s : set) {
                s.signal();
            }
        }
    }

    /** Wakes every consumer of {@code database} (after a lost notification connection). */
    public static void wakeAll(String database) {
        String prefix = database + '\u0000';
        BY_STREAM.forEach((k, set) -> {
            if (k.startsWith(prefix)) {
                set.forEach(Signal::signal);
            }
        });
    }
}
