package dev.eventbus.spi;

import java.util.Objects;
import java.util.Set;

/**
 * What a bus asks of a transport when it subscribes a consumer group to a stream.
 *
 * <p>Immutable and thread-safe.
 *
 * @param group        the consumer group: within a group, instances compete; every group gets every message
 * @param stream       the stream to read
 * @param types        the event type names (CloudEvents {@code type}) the group wants; empty means all. A
 *                     transport that can filter on the broker (RabbitMQ bindings) uses it; the bus filters again
 * @param concurrency  at most this many messages of this subscription handled at once (at least 1)
 * @param orderedByKey true when messages with the same key must be handled one after the other, in order
 */
public record SubscriptionRequest(String group, String stream, Set<String> types, int concurrency,
                                  boolean orderedByKey) {
    public SubscriptionRequest {
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(stream, "stream");
        types = types == null ? Set.of() : Set.copyOf(types);
        if (concurrency < 1) {
            throw new IllegalArgumentException("concurrency must be >= 1, was " + concurrency);
        }
    }

    /** A copy with another set of wanted types. */
    public SubscriptionRequest withTypes(Set<String> newTypes) {
        return new SubscriptionRequest(group, stream, newTypes, concurrency, orderedByKey);
    }
}
