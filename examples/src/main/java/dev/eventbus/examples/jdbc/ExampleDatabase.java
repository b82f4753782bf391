package dev.eventbus.examples.jdbc;

import org.h2.jdbcx.JdbcDataSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

/** The H2 file database the JDBC examples keep their data in, in a fresh temporary directory. */
final class ExampleDatabase {

    final Path dir;
    final String url;
    final JdbcDataSource dataSource;

    ExampleDatabase(String name) throws IOException {
        this.dir = Files.createTempDirectory("eventbus-" + name + "-");
        // WRITE_DELAY=0: a committed transaction is on disk before commit() returns, so a crash loses nothing.
        this.url = "jdbc:h2:file:" + dir.resolve(name) + ";WRITE_DELAY=0";
        this.dataSource = new JdbcDataSource();
        dataSource.setURL(url);
    }

    /** Deletes the database files (best effort; the example is over and everything is closed). */
    void delete() {
        try (java.util.stream.Stream<Path> files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            say("(could not delete %s: %s)", dir, e.getMessage());
        }
    }

    void execute(String sql) throws SQLException {
        try (Connection c = dataSource.getConnection(); Statement s = c.createStatement()) {
            s.execute(sql);
        }
    }

    /** The transport the examples' configuration names: system property, environment, eventbus.properties. */
    static String configuredTransport() throws IOException {
        String name = System.getProperty("eventbus.transport");
        if (name == null || name.isBlank()) {
            name = System.getenv("EVENTBUS_TRANSPORT");
        }
        if (name == null || name.isBlank()) {
            Properties p = new Properties();
            try (InputStream in = ExampleDatabase.class.getResourceAsStream("/eventbus.properties")) {
                if (in != null) {
                    p.load(in);
                }
            }
            name = p.getProperty("eventbus.transport", "memory");
        }
        return name.trim();
    }

    static void say(String format, Object... args) {
        System.out.println(String.format(format, args));
    }

    static boolean await(java.util.function.BooleanSupplier condition, java.time.Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }
}
