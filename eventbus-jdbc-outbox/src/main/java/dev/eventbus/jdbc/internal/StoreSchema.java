package dev.eventbus.jdbc.internal;

import dev.eventbus.EventBusException;
import dev.eventbus.jdbc.JdbcDialect;
import dev.eventbus.jdbc.SchemaMode;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;

/**
 * The event store's and projections' tables: {@code store_event} (every event, by global position, unique per
 * stream and version), {@code store_stream} (each stream's version: the row an append locks), {@code store_head}
 * (one row: the last position handed out, the store-wide lock that orders commits), {@code store_snapshot} and
 * {@code store_projection} (checkpoints per projection and generation). Kept apart from the transport and outbox
 * DDL so the store can be added to an existing schema.
 */
public final class StoreSchema {

    /** As the other components' prefixes: an optional {@code schema.}, then letters, digits, underscores. */
    private static final java.util.regex.Pattern PREFIX =
            java.util.regex.Pattern.compile("([A-Za-z_][A-Za-z0-9_]{0,62}\\.)?[A-Za-z_][A-Za-z0-9_]{0,39}");

    private StoreSchema() {
    }

    /** The prefix if it is a safe SQL name; otherwise an exception that says what is allowed. */
    public static String validPrefix(String prefix) {
        if (prefix == null || !PREFIX.matcher(prefix).matches()) {
            throw new IllegalArgumentException("invalid table prefix '" + prefix + "': expected letters, digits and "
                    + "underscores (at most 40, not starting with a digit), optionally preceded by 'schema.'");
        }
        return prefix;
    }

    /** The statements that create the tables (idempotent), prefix filled in. */
    public static List<String> statements(JdbcDialect dialect, String p) {
        String text;
        String blob;
        String headInit;
        switch (dialect) {
            case POSTGRESQL -> {
                text = "TEXT";
                blob = "BYTEA";
                headInit = "INSERT INTO " + p + "store_head (id, position) VALUES (1, 0) ON CONFLICT DO NOTHING";
            }
            case MARIADB -> {
                text = "MEDIUMTEXT";
                blob = "LONGBLOB";
                headInit = "INSERT IGNORE INTO " + p + "store_head (id, position) VALUES (1, 0)";
            }
            default -> {
                text = "VARCHAR";
                blob = "VARBINARY";
                headInit = "INSERT INTO " + p + "store_head (id, position) SELECT 1, 0 WHERE NOT EXISTS "
                        + "(SELECT 1 FROM " + p + "store_head WHERE id = 1)";
            }
        }
        String engine = dialect == JdbcDialect.MARIADB ? " ENGINE=InnoDB" : "";
        return List.of(
                "CREATE TABLE IF NOT EXISTS " + p + "store_event (\n"
                        + "  position    BIGINT       NOT NULL PRIMARY KEY,\n"
                        + "  stream_id   VARCHAR(200) NOT NULL,\n"
                        + "  version     BIGINT       NOT NULL,\n"
                        + "  event_id    VARCHAR(64)  NOT NULL,\n"
                        + "  event_type  VARCHAR(255) NOT NULL,\n"
                        + "  bus_stream  VARCHAR(255) NOT NULL,\n"
                        + "  headers     " + text + " NOT NULL,\n"
                        + "  body        " + blob + " NOT NULL,\n"
                        + "  created_at  BIGINT       NOT NULL,\n"
                        + "  UNIQUE (stream_id, version)\n"
                        + ")" + engine,
                "CREATE TABLE IF NOT EXISTS " + p + "store_stream (\n"
                        + "  stream_id   VARCHAR(200) NOT NULL PRIMARY KEY,\n"
                        + "  version     BIGINT       NOT NULL\n"
                        + ")" + engine,
                "CREATE TABLE IF NOT EXISTS " + p + "store_head (\n"
                        + "  id          INT          NOT NULL PRIMARY KEY,\n"
                        + "  position    BIGINT       NOT NULL\n"
                        + ")" + engine,
                headInit,
                "CREATE TABLE IF NOT EXISTS " + p + "store_snapshot (\n"
                        + "  stream_id   VARCHAR(200) NOT NULL PRIMARY KEY,\n"
                        + "  version     BIGINT       NOT NULL,\n"
                        + "  state_type  VARCHAR(255) NOT NULL,\n"
                        + "  state       " + blob + " NOT NULL,\n"
                        + "  created_at  BIGINT       NOT NULL\n"
                        + ")" + engine,
                "CREATE TABLE IF NOT EXISTS " + p + "store_projection (\n"
                        + "  name        VARCHAR(200) NOT NULL,\n"
                        + "  generation  INT          NOT NULL,\n"
                        + "  position    BIGINT       NOT NULL,\n"
                        + "  status      VARCHAR(16)  NOT NULL,\n"
                        + "  updated_at  BIGINT       NOT NULL,\n"
                        + "  PRIMARY KEY (name, generation)\n"
                        + ")" + engine);
    }

    /** The DDL as one script, for an operator to run. */
    public static String script(JdbcDialect dialect, String prefix) {
        return String.join(";\n\n", statements(dialect, prefix)) + ";\n";
    }

    /**
     * Creates the tables when {@code mode} allows, then checks each exists.
     *
     * @throws EventBusException naming the missing table and carrying the DDL
     */
    public static void ensure(javax.sql.DataSource dataSource, JdbcDialect dialect, String prefix, SchemaMode mode) {
        boolean create = mode == SchemaMode.ALWAYS || (mode == SchemaMode.EMBEDDED && dialect.isEmbedded());
        try (Connection c = dataSource.getConnection()) {
            if (!c.getAutoCommit()) {
                c.setAutoCommit(true);
            }
            if (create) {
                for (String ddl : statements(dialect, prefix)) {
                    try (Statement s = c.createStatement()) {
                        s.execute(ddl);
                    } catch (SQLException e) {
                        // Another instance creating the same tables at once; IF NOT EXISTS makes a retry a no-op.
                        try (Statement again = c.createStatement()) {
                            again.execute(ddl);
                        } catch (SQLException second) {
                            if (!Jdbc.isDuplicate(second)) {
                                throw second;
                            }
                        }
                    }
                }
            }
            for (String t : List.of("store_event", "store_stream", "store_head", "store_snapshot", "store_projection")) {
                if (!exists(c, prefix + t)) {
                    throw new EventBusException("table " + prefix + t + " does not exist. Create the event store "
                            + "tables with this DDL (or set eventbus.jdbc.create-schema=always):\n"
                            + script(dialect, prefix));
                }
            }
        } catch (SQLException e) {
            throw new EventBusException("cannot check the event store tables (prefix " + prefix + "): "
                    + e.getMessage(), e, Jdbc.isTransient(e));
        }
    }

    private static boolean exists(Connection c, String table) {
        try (Statement s = c.createStatement()) {
            s.executeQuery("SELECT 1 FROM " + table + " WHERE 1 = 0").close();
            return true;
        } catch (SQLException e) {
            return false;
        }
    }
}
