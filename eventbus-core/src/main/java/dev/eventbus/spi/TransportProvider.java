package dev.eventbus.spi;

/**
 * Creates a {@link Transport} by name; found with {@link java.util.ServiceLoader}, so adding a transport
 * module's jar to the classpath makes its name selectable with {@code eventbus.transport=<name>}.
 *
 * <p>Implementations must be thread-safe and have a public no-argument constructor; they are registered in
 * {@code META-INF/services/dev.eventbus.spi.TransportProvider}.
 */
public interface TransportProvider {

    /** The name users select, e.g. {@code kafka}. Lower case. */
    String name();

    /**
     * Creates and starts a transport from configuration.
     *
     * @throws dev.eventbus.ConfigException naming the key and the expected value when the configuration is invalid
     */
    Transport create(TransportContext context);

    /**
     * The full names of this transport's own configuration keys (not the pass-through ones). Used to map
     * environment variables back to dashed keys: {@code EVENTBUS_KAFKA_TOPIC_PREFIX} to
     * {@code eventbus.kafka.topic-prefix}. Default: none.
     */
    default java.util.Collection<String> configKeys() {
        return java.util.List.of();
    }

    /**
     * Whether {@code key}, a full key under {@code eventbus.<name>.}, is one this transport reads. The bus
     * refuses to build when a key under a transport's namespace is not accepted, naming the key, the allowed
     * keys ({@link #configKeys()}) and the nearest one, so a typo never goes silent. Default: the key is one of
     * {@link #configKeys()}. A transport that passes a family of keys through to its client (Kafka's
     * {@code eventbus.kafka.<client setting>}) overrides this to accept those too. A provider that overrides
     * neither this nor {@link #configKeys()} (one written before they existed) is not checked: the bus logs a
     * WARN once instead. {@code EVENTBUS_*} environment variables under the namespace map to the first spelling
     * this accepts, dots tried before dashes.
     */
    default boolean acceptsKey(String key) {
        return configKeys().contains(key);
    }
}
