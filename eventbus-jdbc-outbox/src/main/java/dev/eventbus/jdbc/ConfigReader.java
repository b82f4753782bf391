package dev.eventbus.jdbc;

import dev.eventbus.ConfigException;
import dev.eventbus.jdbc.internal.Schema;
import dev.eventbus.spi.TransportContext;

import java.time.Duration;
import java.util.Map;

/** Reads the settings the JDBC components share, failing with the key and what is allowed. */
final class ConfigReader {

    final TransportContext ctx;

    ConfigReader(Map<String, String> config) {
        JdbcConfig.checkKnown(config);
        this.ctx = new TransportContext("eventbus", config);
    }

    JdbcDialect dialect(JdbcDialect def) {
        String d = ctx.get(JdbcConfig.DIALECT);
        if (d == null) {
            return def;
        }
        try {
            return JdbcDialect.named(d);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(JdbcConfig.DIALECT, d, "h2, postgresql, mariadb or mysql");
        }
    }

    String prefix(String def) {
        String p = ctx.get(JdbcConfig.TABLE_PREFIX);
        if (p == null) {
            return def;
        }
        try {
            return Schema.validPrefix(p);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(JdbcConfig.TABLE_PREFIX, p,
                    "letters, digits and underscores (at most 40), optionally preceded by 'schema.'");
        }
    }

    SchemaMode schemaMode(SchemaMode def) {
        return ctx.getEnum(JdbcConfig.CREATE_SCHEMA, SchemaMode.class, def);
    }

    Duration positive(String key, Duration def) {
        Duration d = ctx.getDuration(key, def);
        if (d.isZero() || d.isNegative()) {
            throw new ConfigException(key, ctx.get(key), "a positive duration");
        }
        return d;
    }

    Duration nonNegative(String key, Duration def) {
        Duration d = ctx.getDuration(key, def);
        if (d.isNegative()) {
            throw new ConfigException(key, ctx.get(key), "a duration of zero or more");
        }
        return d;
    }

    int integer(String key, int def, int min, int max) {
        return ctx.getInt(key, def, min, max);
    }
}
