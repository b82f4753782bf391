package dev.eventbus.rabbitmq;

import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportContext;
import dev.eventbus.spi.TransportProvider;

/**
 * Makes {@code eventbus.transport=rabbitmq} select a {@link RabbitMqTransport} configured from the
 * {@code eventbus.rabbitmq.*} keys in {@link RabbitMqConfig}. Found through {@link java.util.ServiceLoader}.
 *
 * <p>Thread-safe and stateless.
 */
public final class RabbitMqTransportProvider implements TransportProvider {

    /** The transport's name in configuration. */
    public static final String NAME = "rabbitmq";

    @Override
    public String name() {
        return NAME;
    }

    /**
     * Every {@code eventbus.rabbitmq.*} key the transport reads (the constants of {@link RabbitMqConfig}); the bus
     * refuses any other key under {@code eventbus.rabbitmq.}, and maps {@code EVENTBUS_RABBITMQ_KEY_ORDER}-style
     * environment variables back to these dashed names.
     */
    @Override
    public java.util.Collection<String> configKeys() {
        return RabbitMqConfig.KEYS;
    }

    /**
     * Connects a new transport.
     *
     * @throws dev.eventbus.ConfigException naming the key and the expected value when a setting is invalid
     * @throws dev.eventbus.EventBusException (retriable) when the broker cannot be reached
     */
    @Override
    public Transport create(TransportContext context) {
        return RabbitMqTransport.create(RabbitMqConfig.from(context));
    }
}
