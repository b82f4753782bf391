package dev.eventbus.jdbc.internal;

import java.time.Duration;
import java.util.Objects;
import java.util.UUID;

/**
 * What every holder of {@link PartitionLeases} shares, whether it is a JDBC transport's subscription or an outbox
 * relay: how it names itself in the lease tables, and the rules its lease and heartbeat obey.
 */
public final class Leasing {

    private Leasing() {
    }

    /**
     * An id for this process in the lease tables: {@code host/pid/random}, so an operator can tell who holds a
     * partition, and two holders in one process never collide. Clipped from the left to {@code maxLength}.
     */
    public static String holderId(int maxLength) {
        String host = System.getenv("HOSTNAME");
        String id = (host == null || host.isBlank() ? "" : host + "/") + ProcessHandle.current().pid() + "/"
                + UUID.randomUUID().toString().substring(0, 8);
        return id.length() > maxLength ? id.substring(id.length() - maxLength) : id;
    }

    /**
     * Fails unless the heartbeat renews the lease before it runs out.
     *
     * @throws IllegalArgumentException when {@code heartbeat >= lease}
     */
    public static void checkHeartbeat(Duration lease, Duration heartbeat) {
        if (heartbeat.compareTo(lease) >= 0) {
            throw new IllegalArgumentException("heartbeat (" + heartbeat + ") must be shorter than the lease ("
                    + lease + ")");
        }
    }

    /**
     * {@code d} if it is positive.
     *
     * @throws IllegalArgumentException naming {@code name} otherwise
     */
    public static Duration positive(Duration d, String name) {
        Objects.requireNonNull(d, name);
        if (d.isZero() || d.isNegative()) {
            throw new IllegalArgumentException(name + " must be positive, was " + d);
        }
        return d;
    }
}
