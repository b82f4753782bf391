package dev.eventbus.spi;

import java.time.Duration;
import java.util.Set;

/**
 * A running subscription of one group to one stream.
 *
 * <p>Thread-safe. Must be closed; closing the transport closes it too.
 */
public interface TransportSubscription extends AutoCloseable {

    /**
     * Tells the transport the group now wants these types (a superset of what it wanted). Transports that
     * filter on the broker update their bindings; others may ignore it, since the bus filters by header anyway.
     * Blocks until the broker has the new bindings.
     */
    default void updateTypes(Set<String> types) {
    }

    /**
     * Stops taking new messages, waits up to {@code timeout} for handlers in flight, settles their outcomes
     * (acknowledges, commits), and releases the subscription's resources. Messages whose handler did not finish
     * in time stay unacknowledged and are redelivered later. Idempotent.
     */
    void close(Duration timeout);

    /** {@link #close(Duration)} with a 30-second timeout. */
    @Override
    default void close() {
        close(Duration.ofSeconds(30));
    }
}
