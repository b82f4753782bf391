package dev.eventbus.jdbc.internal;

import dev.eventbus.jdbc.JdbcDialect;

/** The few statements that differ between dialects. */
public final class Sql {

    private Sql() {
    }

    /**
     * An INSERT that does nothing when the key exists: {@code ON CONFLICT DO NOTHING} (PostgreSQL),
     * {@code INSERT IGNORE} (MariaDB). H2 has neither outside compatibility modes, so callers catch the duplicate
     * there ({@link Jdbc#isDuplicate}); H2 rolls back only the failed statement, not the transaction.
     */
    public static String insertIgnore(JdbcDialect dialect, String table, String columns, String values) {
        switch (dialect) {
            case POSTGRESQL:
                return "INSERT INTO " + table + " (" + columns + ") VALUES (" + values + ") ON CONFLICT DO NOTHING";
            case MARIADB:
                return "INSERT IGNORE INTO " + table + " (" + columns + ") VALUES (" + values + ")";
            default:
                return "INSERT INTO " + table + " (" + columns + ") VALUES (" + values + ")";
        }
    }

    /** {@code FOR UPDATE SKIP LOCKED}: all three dialects have it (MariaDB since 10.6, H2 since 2.2). */
    public static String skipLocked(JdbcDialect dialect) {
        return "FOR UPDATE SKIP LOCKED";
    }
}
