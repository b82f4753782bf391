package dev.eventbus.spring.internal;

import dev.eventbus.spi.Transport;

import java.util.Map;

/**
 * Creates the JDBC transport on the application's DataSource (a bean only when eventbus-jdbc-outbox and a DataSource
 * are present; this interface keeps the bus's factory method free of JDBC-module types).
 */
@FunctionalInterface
public interface DataSourceTransportFactory {

    /** A started transport named {@code jdbc}, owned by the caller. */
    Transport create(Map<String, String> config);
}
