package dev.eventbus.jdbc;

import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportContext;
import dev.eventbus.spi.TransportProvider;

/**
 * Makes {@code eventbus.transport=jdbc} select a {@link JdbcTransport} configured by the {@code eventbus.jdbc.*}
 * keys ({@link JdbcConfig}); found through {@link java.util.ServiceLoader}. Without {@link JdbcConfig#URL} it
 * uses the H2 file database {@value JdbcConfig#DEFAULT_URL}, the durable embedded default.
 *
 * <p>Stateless and thread-safe.
 */
public final class JdbcTransportProvider implements TransportProvider {

    @Override
    public String name() {
        return "jdbc";
    }

    /**
     * @throws dev.eventbus.ConfigException naming the key when a setting is invalid
     * @throws dev.eventbus.EventBusException when the database cannot be reached or a table is missing
     */
    @Override
    public java.util.Collection<String> configKeys() {
        return JdbcConfig.keys();
    }

    @Override
    public Transport create(TransportContext context) {
        return JdbcTransport.fromConfig(context.properties());
    }
}
