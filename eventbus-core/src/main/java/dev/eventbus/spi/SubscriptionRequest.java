package dev.eventbus.spi;

import dev.eventbus.Filter;

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
 * @param batchSize    0 when the handler decides each message before {@link MessageHandler#handle} returns; n > 0
 *                     when the group has batch subscribers taking up to n messages at once: the transport then
 *                     calls {@link MessageHandler#handleAsync}, keeps delivering while outcomes are pending, and
 *                     lets at least {@code 2 * n} messages per lane (per key-ordered queue, shard or partition) be
 *                     outstanding (prefetch, pause thresholds), or batches never fill
 * @param filter       which messages the group's subscribers want, by header (null: all). A transport may skip the
 *                     others before handing them over (push-down), acknowledging them; the bus filters again
 */
public record SubscriptionRequest(String group, String stream, Set<String> types, int concurrency,
                                  boolean orderedByKey, int batchSize, Filter filter) {
    public SubscriptionRequest {
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(stream, "stream");
        types = types == null ? Set.of() : Set.copyOf(types);
        if (concurrency < 1) {
            throw new IllegalArgumentException("concurrency must be >= 1, was " + concurrency);
        }
        if (batchSize < 0) {
            throw new IllegalArgumentException("batchSize must be >= 0, was " + batchSize);
        }
    }

    /** A request without batch subscribers and without a filter. */
    public SubscriptionRequest(String group, String stream, Set<String> types, int concurrency, boolean orderedByKey) {
        this(group, stream, types, concurrency, orderedByKey, 0, null);
    }

    /** A copy with another set of wanted types. */
    public SubscriptionRequest withTypes(Set<String> newTypes) {
        return new SubscriptionRequest(group, stream, newTypes, concurrency, orderedByKey, batchSize, filter);
    }

    /** True when the transport should call {@link MessageHandler#handleAsync} (see {@link #batchSize}). */
    public boolean deferredOutcomes() {
        return batchSize > 0;
    }
}
