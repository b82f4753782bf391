package dev.eventbus.jdbc;

import dev.eventbus.jdbc.internal.DriverManagerDataSource;

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import javax.sql.DataSource;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The real databases the tests run against: H2 in process, and the PostgreSQL and MariaDB servers at
 * {@code EVENTBUS_TEST_POSTGRES_URL} / {@code EVENTBUS_TEST_MARIADB_URL} (defaulting to the local ones). A server
 * that cannot be reached fails the test with how to start it; nothing is skipped.
 */
public final class TestDatabases {

    public static final String POSTGRES_URL = jdbcUrl(System.getenv("EVENTBUS_TEST_POSTGRES_URL"),
            "jdbc:postgresql://127.0.0.1:5432/test?user=postgres");
    public static final String MARIADB_URL = jdbcUrl(System.getenv("EVENTBUS_TEST_MARIADB_URL"),
            "jdbc:mariadb://127.0.0.1:3306/test?user=root");

    private TestDatabases() {
    }

    private static String jdbcUrl(String env, String def) {
        if (env == null || env.isBlank()) {
            return def;
        }
        return env.startsWith("jdbc:") ? env : "jdbc:" + env;
    }

    public static DataSource postgres() {
        return reachable(new DriverManagerDataSource(POSTGRES_URL, null, null), "PostgreSQL", POSTGRES_URL,
                "pg_ctlcluster 15 main start", "EVENTBUS_TEST_POSTGRES_URL");
    }

    public static DataSource mariadb() {
        return reachable(new DriverManagerDataSource(MARIADB_URL, null, null), "MariaDB", MARIADB_URL,
                "start-stop-daemon --start --background --exec /usr/sbin/mariadbd", "EVENTBUS_TEST_MARIADB_URL");
    }

    /** A named in-memory H2 database that lives until the JVM exits. */
    public static DataSource h2(String name) {
        return new DriverManagerDataSource("jdbc:h2:mem:" + name + ";DB_CLOSE_DELAY=-1;LOCK_TIMEOUT=10000", null,
                null);
    }

    private static DataSource reachable(DataSource ds, String what, String url, String start, String env) {
        try (Connection c = ds.getConnection()) {
            c.isValid(5);
            return ds;
        } catch (SQLException e) {
            fail(what + " is not reachable at " + url + " (" + e.getMessage() + "). Start it with `" + start
                    + "` (or run .ci/run, which starts every server the tests need), or set " + env
                    + " to a JDBC URL of another server.");
            throw new AssertionError("unreachable");
        }
    }

    /** A table prefix no other test class or concurrent run uses. */
    public static String uniquePrefix(String base) {
        return base + "_" + UUID.randomUUID().toString().replace("-", "").substring(0, 8) + "_";
    }

    /** Drops every view, then every table, whose name starts with {@code prefix}. */
    public static void dropTables(DataSource ds, String prefix) {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(true);
            for (String type : new String[] {"VIEW", "TABLE"}) {
                for (String t : named(c, prefix, type)) {
                    try (Statement s = c.createStatement()) {
                        s.execute("DROP " + type + " " + t);
                    }
                }
            }
        } catch (SQLException e) {
            throw new AssertionError("could not drop the test tables " + prefix + "*: " + e.getMessage(), e);
        }
    }

    private static List<String> named(Connection c, String prefix, String type) throws SQLException {
        DatabaseMetaData meta = c.getMetaData();
        List<String> out = new ArrayList<>();
        for (String pattern : new String[] {prefix, prefix.toUpperCase(Locale.ROOT)}) {
            try (ResultSet rs = meta.getTables(c.getCatalog(), null, pattern.replace("_", "\\_") + "%",
                    new String[] {type})) {
                while (rs.next()) {
                    String t = rs.getString("TABLE_NAME");
                    if (t.toLowerCase(Locale.ROOT).startsWith(prefix.toLowerCase(Locale.ROOT)) && !out.contains(t)) {
                        out.add(t);
                    }
                }
            }
        }
        return out;
    }
}
