package dev.eventbus.spi;

import java.time.Instant;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * One event on the wire: the stream it travels on, its partitioning key, its headers and its serialized body.
 *
 * <p>Headers hold the CloudEvents attributes under the names in {@link MessageHeaders} (for example {@code id},
 * {@code type}, {@code datacontenttype}) plus free extension headers. Each transport maps them to its own
 * binding (Kafka {@code ce_*} headers, AMQP properties, table columns) and back, so a handler sees the same
 * names whatever carried the message.
 *
 * <p>Immutable and thread-safe. The body array is not copied: neither the sender nor any transport may modify
 * it after construction.
 *
 * @param stream     the destination (Kafka topic, RabbitMQ exchange, JDBC log stream); never null
 * @param key        the partitioning key; messages with the same key on one stream keep their order. May be null
 * @param headers    CloudEvents attributes and extensions; never null, unmodifiable
 * @param body       the serialized event; never null
 * @param deliverAt  earliest time the message may be handed to a subscriber, or null for "now"
 * @param priority   0 (default) to 255; honoured only by transports with {@link Capability#PRIORITY}
 */
public record TransportMessage(String stream, String key, Map<String, String> headers, byte[] body,
                               Instant deliverAt, int priority) {

    public TransportMessage {
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(headers, "headers");
        Objects.requireNonNull(body, "body");
        if (priority < 0 || priority > 255) {
            throw new IllegalArgumentException("priority must be between 0 and 255, was " + priority);
        }
        // The library's header maps are immutable already; anything else is wrapped, not copied.
        headers = headers instanceof dev.eventbus.internal.ArrayHeaderMap ? headers : Collections.unmodifiableMap(headers);
    }

    /** A message to deliver now with default priority. The headers map is wrapped, not copied. */
    public static TransportMessage of(String stream, String key, Map<String, String> headers, byte[] body) {
        return new TransportMessage(stream, key, headers, body, null, 0);
    }

    /** Returns the header's value, or null when absent. */
    public String header(String name) {
        return headers.get(name);
    }

    /** The CloudEvents {@code type} header (the event's wire name), or null when missing. */
    public String type() {
        return headers.get(MessageHeaders.TYPE);
    }

    /** The CloudEvents {@code id} header, or null when missing. */
    public String id() {
        return headers.get(MessageHeaders.ID);
    }

    /** A copy with {@code extra} headers added (replacing same-named ones); a null value removes the header. */
    public TransportMessage withHeaders(Map<String, String> extra) {
        if (extra == null || extra.isEmpty()) {
            return this;
        }
        Map<String, String> merged = new LinkedHashMap<>(headers);
        extra.forEach((k, v) -> {
            if (v == null) {
                merged.remove(k);
            } else {
                merged.put(k, v);
            }
        });
        return new TransportMessage(stream, key, merged, body, deliverAt, priority);
    }

    /**
     * The message as a dead letter is replayed: attempt and dead-letter bookkeeping removed, so the retry policy
     * starts afresh, but {@link MessageHeaders#PENDING_SUBSCRIBERS} kept, so subscribers that had already handled
     * it are not invoked again. Transports call this in {@code DeadLetterStore.replay}.
     */
    public TransportMessage forReplay() {
        Map<String, String> removed = new LinkedHashMap<>();
        for (String k : headers.keySet()) {
            if (k.startsWith("eventbus-") && !k.equals(MessageHeaders.PENDING_SUBSCRIBERS)) {
                removed.put(k, null);
            }
        }
        return withHeaders(removed).withDeliverAt(null);
    }

    /**
     * The message without the bus's bookkeeping headers (every {@code eventbus-*} header: attempts, first failure,
     * pending subscribers, dead-letter details). Those headers are trusted only on the bus's own retry, delay and
     * replay paths; a message arriving on a stream's main path can only carry them forged (a producer outside the
     * bus: {@code eventbus-pending: nobody} would otherwise acknowledge it for every subscriber undelivered), so
     * transports call this there. Returns this instance when there is nothing to strip (the common case).
     */
    public TransportMessage withoutBookkeeping() {
        if (headers instanceof dev.eventbus.internal.ArrayHeaderMap a && !a.hasNameStartingWith("eventbus-")) {
            return this; // the hot path: names only, without decoding a transport's lazily decoded values
        }
        Map<String, String> removed = null;
        for (String k : headers.keySet()) {
            if (k.startsWith("eventbus-")) {
                if (removed == null) {
                    removed = new LinkedHashMap<>();
                }
                removed.put(k, null);
            }
        }
        return removed == null ? this : withHeaders(removed);
    }

    /** A copy that goes to another stream. */
    public TransportMessage withStream(String newStream) {
        return new TransportMessage(newStream, key, headers, body, deliverAt, priority);
    }

    /** A copy that is not delivered before {@code time} (null: now). */
    public TransportMessage withDeliverAt(Instant time) {
        return new TransportMessage(stream, key, headers, body, time, priority);
    }

    /** A copy with another priority. */
    public TransportMessage withPriority(int newPriority) {
        return new TransportMessage(stream, key, headers, body, deliverAt, newPriority);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TransportMessage m
                && stream.equals(m.stream) && Objects.equals(key, m.key) && headers.equals(m.headers)
                && java.util.Arrays.equals(body, m.body) && Objects.equals(deliverAt, m.deliverAt)
                && priority == m.priority;
    }

    @Override
    public int hashCode() {
        return Objects.hash(stream, key, headers, java.util.Arrays.hashCode(body), deliverAt, priority);
    }

    @Override
    public String toString() {
        return "TransportMessage{stream=" + stream + ", key=" + key + ", headers=" + headers
                + ", body=" + body.length + " bytes" + (deliverAt == null ? "" : ", deliverAt=" + deliverAt)
                + (priority == 0 ? "" : ", priority=" + priority) + '}';
    }
}
