package dev.eventbus.jdbc.internal.relay;

import java.time.Duration;

/** Everything an {@code OutboxRelay} was configured with, validated by its builder. Immutable. */
public record RelaySettings(String prefix, int partitions, int batchSize, Duration pollMax, Duration lease,
                            Duration heartbeat, Duration sendTimeout, int maxAttempts, Duration backoff,
                            Duration maxBackoff, Duration retention, Duration retentionInterval) {

    /** The lease table's group and stream under which relays share the outbox partitions. */
    public static final String GROUP = "relays";
    public static final String SCOPE = "outbox";

    public String outbox() {
        return prefix + "outbox";
    }

    public String leaseTable() {
        return prefix + "outbox_lease";
    }

    public String relayTable() {
        return prefix + "outbox_relay";
    }
}
