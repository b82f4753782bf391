package dev.eventbus.spi;

import java.util.Map;

/**
 * A message handed by a transport to a {@link MessageHandler}.
 *
 * <p>Immutable and thread-safe (a transport's {@code attributes} map must be too; it may build its values lazily).
 *
 * @param message    the message as it was sent (plus any headers a redelivery added)
 * @param attempt    1 for the first delivery of this message to this group, 2 for the first redelivery, and so on
 * @param origin     where the transport found it, for diagnostics and dead-letter headers
 *                   (e.g. {@code orders-2@1734}); never null, may be empty
 * @param attributes where the transport found it, as facts for observers (tracing, metrics), named after the
 *                   OpenTelemetry messaging semantic conventions: {@link #PARTITION_ID}, {@link #KAFKA_OFFSET},
 *                   {@link #KAFKA_MESSAGE_KEY}, {@link #RABBITMQ_ROUTING_KEY}; never null, often empty. The bus
 *                   hands them to consume interceptors ({@code ConsumeInterceptor.Chain.deliveryAttributes()})
 *                   and never puts them on the wire
 */
public record Delivery(TransportMessage message, int attempt, String origin, Map<String, String> attributes) {

    /** The partition the message was read from (Kafka), as a string. */
    public static final String PARTITION_ID = "messaging.destination.partition.id";
    /** The message's offset in its partition (Kafka), as a decimal string. */
    public static final String KAFKA_OFFSET = "messaging.kafka.offset";
    /** The record's key as it was on the wire (Kafka), when it had one. */
    public static final String KAFKA_MESSAGE_KEY = "messaging.kafka.message.key";
    /** The routing key the message arrived with (RabbitMQ). */
    public static final String RABBITMQ_ROUTING_KEY = "messaging.rabbitmq.destination.routing_key";

    public Delivery {
        if (attempt < 1) {
            throw new IllegalArgumentException("attempt must be >= 1, was " + attempt);
        }
        if (origin == null) {
            origin = "";
        }
        if (attributes == null) {
            attributes = Map.of();
        }
    }

    /** A delivery without attributes. */
    public Delivery(TransportMessage message, int attempt, String origin) {
        this(message, attempt, origin, Map.of());
    }
}
