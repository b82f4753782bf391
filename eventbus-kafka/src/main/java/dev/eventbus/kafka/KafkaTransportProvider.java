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

    /**
     * {@link KafkaConfig#BOOTSTRAP_SERVERS} and the transport's own keys ({@link KafkaConfig#documentation()}), so
     * {@code EVENTBUS_KAFKA_TOPIC_PREFIX} maps to {@code eventbus.kafka.topic-prefix}. The Kafka client keys that
     * pass through are not listed (there are hundreds); {@link #acceptsKey} accepts them.
     */
    @Override
    public java.util.Collection<String> configKeys() {
        java.util.List<String> keys = new java.util.ArrayList<>();
        keys.add(KafkaConfig.BOOTSTRAP_SERVERS);
        keys.addAll(KafkaConfig.documentation().keySet());
        return java.util.Collections.unmodifiableList(keys);
    }

    /**
     * True for the transport's own keys and for Kafka client keys that exist (the producer's, consumer's and admin
     * client's {@code configNames()}), unprefixed or with {@code producer.}, {@code consumer.} or {@code admin.};
     * see {@link KafkaConfig#accepts(String)}. Anything else under {@code eventbus.kafka.} (a typo, a plug-in's
     * own setting) is refused by the bus; a plug-in setting can still be given in code with
     * {@link KafkaConfig.Builder#set(String, Object)}.
     */
    @Override
    public boolean acceptsKey(String key) {
        return KafkaConfig.accepts(key);
    }

    /**
     * @throws dev.eventbus.ConfigException naming the key and the expected value when the configuration is invalid
     */
    @Override
    public Transport create(TransportContext context) {
        return KafkaTransport.create(KafkaConfig.from(context));
    }
}
