package dev.eventbus.jdbc;

import dev.eventbus.EventBusException;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.regex.Pattern;
import javax.sql.DataSource;

/**
 * The DDL of {@link JdbcProcessStore}: {@code <prefix>process} (one row per process, with its version and its
 * deadline, indexed) and {@code <prefix>process_message} (the ids of the messages each process applied). Times are
 * epoch milliseconds (BIGINT): no time zone can shift a deadline.
 */
final class ProcessTables {

    private static final Pattern PREFIX =
            Pattern.compile("([A-Za-z_][A-Za-z0-9_]{0,62}\\.)?[A-Za-z_][A-Za-z0-9_]{0,39}");

    private ProcessTables() {
    }

    static String validPrefix(String prefix) {
        if (prefix == null || !PREFIX.matcher(prefix).matches()) {
            throw new IllegalArgumentException("invalid table prefix '" + prefix + "': expected letters, digits and "
                    + "underscores (at most 40, not starting with a digit), optionally preceded by 'schema.'");
        }
        return prefix;
    }

    static List<String> statements(JdbcDialect dialect, String prefix) {
        String text = switch (dialect) {
            case H2 -> "CLOB";
            case POSTGRESQL -> "TEXT";
            case MARIADB -> "LONGTEXT";
        };
        // an index name is not schema-qualified on PostgreSQL: it lives in its table's schema
        String indexPrefix = prefix.substring(prefix.indexOf('.') + 1);
        return List.of(
                "CREATE TABLE IF NOT EXISTS " + prefix + "process (\n"
                        + "  process_type VARCHAR(100) NOT NULL,\n"
                        + "  process_id   VARCHAR(200) NOT NULL,\n"
                        + "  version      BIGINT NOT NULL,\n"
                        + "  status       VARCHAR(20) NOT NULL,\n"
                        + "  state_json   " + text + " NOT NULL,\n"
                        + "  deadline_at  BIGINT,\n"
                        + "  updated_at   BIGINT NOT NULL,\n"
                        + "  PRIMARY KEY (process_type, process_id)\n"
                        + ")",
                "CREATE INDEX IF NOT EXISTS " + indexPrefix + "process_deadline ON " + prefix
                        + "process (deadline_at)",
                "CREATE TABLE IF NOT EXISTS " + prefix + "process_message (\n"
                        + "  process_type VARCHAR(100) NOT NULL,\n"
                        + "  process_id   VARCHAR(200) NOT NULL,\n"
                        + "  message_id   VARCHAR(200) NOT NULL,\n"
                        + "  applied_at   BIGINT NOT NULL,\n"
                        + "  PRIMARY KEY (process_type, process_id, message_id)\n"
                        + ")");
    }

    static String script(JdbcDialect dialect, String prefix) {
        return String.join(";\n", statements(dialect, prefix)) + ";\n";
    }

    /** Creates the tables when {@code mode} allows, then checks that both exist. */
    static void ensure(DataSource dataSource, JdbcDialect dialect, String prefix, SchemaMode mode) {
        boolean create = mode == SchemaMode.ALWAYS || (mode == SchemaMode.EMBEDDED && dialect.isEmbedded());
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            if (create) {
                for (String ddl : statements(dialect, prefix)) {
                    try (Statement s = c.createStatement()) {
                        s.execute(ddl);
                    } catch (SQLException e) {
                        // two instances creating at once: PostgreSQL's catalog race; IF NOT EXISTS then is a no-op
                        try (Statement again = c.createStatement()) {
                            again.execute(ddl);
                        }
                    }
                }
            }
            for (String table : new String[] {prefix + "process", prefix + "process_message"}) {
                try (Statement s = c.createStatement()) {
                    s.executeQuery("SELECT 1 FROM " + table + " WHERE 1 = 0").close();
                } catch (SQLException e) {
                    throw new EventBusException("table " + table + " does not exist. Create the process store "
                            + "tables with this DDL (or set eventbus.jdbc.create-schema=always):\n"
                            + script(dialect, prefix));
                }
            }
        } catch (SQLException e) {
            throw new EventBusException("cannot check the process store tables (prefix " + prefix + "): "
                    + e.getMessage(), e, true);
        }
    }
}
