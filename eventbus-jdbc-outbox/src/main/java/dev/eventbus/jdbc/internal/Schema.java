package dev.eventbus.jdbc.internal;

import dev.eventbus.EventBusException;
import dev.eventbus.jdbc.JdbcDialect;
import dev.eventbus.jdbc.SchemaMode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import javax.sql.DataSource;

/**
 * Loads the DDL resources, checks that tables exist, and creates them when asked. The public face of the DDL is
 * {@code JdbcSchema}, which calls this; nothing here refers back to it.
 */
public final class Schema {

    private static final Logger log = LoggerFactory.getLogger(Schema.class);

    /**
     * An optional schema qualifier, then a prefix of letters, digits and underscores. No quotes, spaces or
     * punctuation can reach the SQL through a table name. Short enough for MariaDB's 64-character limit with
     * the longest suffix ({@code dead_letter_group}).
     */
    private static final Pattern PREFIX =
            Pattern.compile("([A-Za-z_][A-Za-z0-9_]{0,62}\\.)?[A-Za-z_][A-Za-z0-9_]{0,39}");

    private Schema() {
    }

    /** The prefix if it is a safe SQL name; otherwise an exception that says what is allowed. */
    public static String validPrefix(String prefix) {
        if (prefix == null || !PREFIX.matcher(prefix).matches()) {
            throw new IllegalArgumentException("invalid table prefix '" + prefix + "': expected letters, digits and "
                    + "underscores (at most 40, not starting with a digit), optionally preceded by 'schema.'");
        }
        return prefix;
    }

    public static String script(JdbcDialect dialect, String prefix, String part) {
        String path = "/dev/eventbus/jdbc/schema/" + dialect.resourceName() + "/" + part + ".sql";
        try (InputStream in = Schema.class.getResourceAsStream(path)) { // absolute path: same jar
            if (in == null) {
                throw new IllegalStateException("DDL resource missing from the jar: " + path);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8).replace("${p}", prefix);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read DDL resource " + path, e);
        }
    }

    public static List<String> statements(JdbcDialect dialect, String prefix, String part) {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : script(dialect, prefix, part).split("\n")) {
            String t = line.strip();
            if (t.isEmpty() || t.startsWith("--")) {
                continue;
            }
            current.append(line).append('\n');
            if (t.endsWith(";")) {
                String s = current.toString().strip();
                out.add(s.substring(0, s.length() - 1));
                current.setLength(0);
            }
        }
        if (!current.toString().isBlank()) {
            out.add(current.toString().strip());
        }
        return out;
    }

    /**
     * Makes sure the tables of {@code part} exist: creates them when {@code mode} allows, then probes each one.
     *
     * @throws EventBusException naming the missing table and carrying the DDL to run; retriable when the database
     *                           could not be reached at all
     */
    public static void ensure(DataSource dataSource, JdbcDialect dialect, String prefix, String part,
                              SchemaMode mode, List<String> tables) {
        boolean create = mode == SchemaMode.ALWAYS || (mode == SchemaMode.EMBEDDED && dialect.isEmbedded());
        try (Connection c = dataSource.getConnection()) {
            if (!c.getAutoCommit()) {
                c.setAutoCommit(true);
            }
            if (create) {
                for (String ddl : statements(dialect, prefix, part)) {
                    try (Statement s = c.createStatement()) {
                        s.execute(ddl);
                    } catch (SQLException e) {
                        // Two instances creating the same table at once: the loser may see "already exists"
                        // (PostgreSQL's catalog race). Once the winner is done, IF NOT EXISTS makes it a no-op.
                        try (Statement again = c.createStatement()) {
                            again.execute(ddl);
                        }
                    }
                }
            }
            for (String table : tables) {
                if (!exists(c, table)) {
                    throw new EventBusException("table " + table + " does not exist. Create the " + part
                            + " tables with this DDL (or set eventbus.jdbc.create-schema=always):\n"
                            + script(dialect, prefix, part));
                }
            }
        } catch (SQLException e) {
            throw new EventBusException("cannot check the " + part + " tables (prefix " + prefix + "): "
                    + e.getMessage(), e, Jdbc.isTransient(e));
        }
        log.debug("{} tables with prefix {} are ready ({})", part, prefix, dialect);
    }

    /** Probes a table with a query that reads nothing; never leaves a failed transaction behind (auto-commit). */
    public static boolean exists(Connection c, String table) {
        if (table.isEmpty()) {
            return false;
        }
        try (Statement s = c.createStatement()) {
            s.executeQuery("SELECT 1 FROM " + table + " WHERE 1 = 0").close();
            return true;
        } catch (SQLException e) {
            return false;
        }
    }
}
