package dev.eventbus.kafka;

import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportContext;
import dev.eventbus.spi.TransportProvider;

/**
 * Makes {@code eventbus.transport=kafka} (or a route to a transport named {@code kafka}) select a
 * {@link KafkaTransport} configured from the {@code eventbus.kafka.*} keys ({@link KafkaConfig}). Found through
 * {@link java.util.ServiceLoader}; registered in {@code META-INF/services/dev.eventbus.spi.TransportProvider}.
 *
 * <p>Stateless and thread-safe.
 */
public final class KafkaTransportProvider implements TransportProvider {

    /** The name this transport is selected by. */
    public static final String NAME = "kafka";

    /** Called by {@link java.util.ServiceLoader}. */
    public KafkaTransportProvider() {
    }

    @Override
    public String name() {
        return NAME;
    }

    /** The dashed keys of {@link KafkaConfig#documentation()}, so {@code EVENTBUS_KAFKA_TOPIC_PREFIX} maps to them. */
    @Override
    public java.util.Collection<String> configKeys() {
        return KafkaConfig.documentation().keySet();
    }

    /**
     * @throws dev.eventbus.ConfigException naming the key and the expected value when the configuration is invalid
     */
    @Override
    public Transport create(TransportContext context) {
        return KafkaTransport.create(KafkaConfig.from(context));
    }
}
