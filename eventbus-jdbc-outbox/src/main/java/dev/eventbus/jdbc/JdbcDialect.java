package dev.eventbus.jdbc;

import dev.eventbus.EventBusException;

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.SQLException;
import java.util.Locale;
import javax.sql.DataSource;

/**
 * The SQL dialects this module speaks. Each has its own DDL resource
 * ({@code dev/eventbus/jdbc/schema/<dialect>/*.sql}) and a few differences in the statements it runs.
 *
 * <p>Immutable and thread-safe.
 */
public enum JdbcDialect {
    /** H2 2.x, in-process or server. The embedded default (on a file database it is durable). */
    H2("h2", true),
    /** PostgreSQL 12 or later; {@code LISTEN/NOTIFY} wakes consumers up. */
    POSTGRESQL("postgresql", false),
    /** MariaDB 10.6 or later, and MySQL 8 (which uses the same SQL; tested on MariaDB 10.11). */
    MARIADB("mariadb", false);

    private final String resourceName;
    private final boolean embedded;

    JdbcDialect(String resourceName, boolean embedded) {
        this.resourceName = resourceName;
        this.embedded = embedded;
    }

    /** The directory name of this dialect's DDL resources, e.g. {@code postgresql}. */
    public String resourceName() {
        return resourceName;
    }

    /** True for databases that normally live inside the application (H2): the schema is created by default. */
    public boolean isEmbedded() {
        return embedded;
    }

    /**
     * The dialect named (case-insensitively) {@code h2}, {@code postgresql}/{@code postgres}, {@code mariadb} or
     * {@code mysql}.
     *
     * @throws IllegalArgumentException for any other name
     */
    public static JdbcDialect named(String name) {
        switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "h2":
                return H2;
            case "postgresql":
            case "postgres":
                return POSTGRESQL;
            case "mariadb":
            case "mysql":
                return MARIADB;
            default:
                throw new IllegalArgumentException("unknown JDBC dialect '" + name
                        + "': expected h2, postgresql, mariadb or mysql");
        }
    }

    /**
     * Detects the dialect from the database's product name. Borrows one connection from {@code dataSource}
     * and closes it.
     *
     * @throws EventBusException when the database cannot be reached or is not one of the supported ones
     */
    public static JdbcDialect detect(DataSource dataSource) {
        try (Connection c = dataSource.getConnection()) {
            return detect(c.getMetaData());
        } catch (SQLException e) {
            throw new EventBusException("cannot connect to the database to detect its SQL dialect: " + e.getMessage(),
                    e, true);
        }
    }

    static JdbcDialect detect(DatabaseMetaData meta) throws SQLException {
        String product = meta.getDatabaseProductName();
        String p = product == null ? "" : product.toLowerCase(Locale.ROOT);
        if (p.contains("h2")) {
            return H2;
        }
        if (p.contains("postgres")) {
            return POSTGRESQL;
        }
        if (p.contains("mariadb") || p.contains("mysql")) {
            return MARIADB;
        }
        throw new EventBusException("unsupported database '" + product
                + "': eventbus-jdbc-outbox speaks H2, PostgreSQL and MariaDB/MySQL");
    }
}
