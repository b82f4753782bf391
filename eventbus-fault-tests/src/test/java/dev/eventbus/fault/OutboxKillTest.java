package dev.eventbus.fault;

import dev.eventbus.EventBus;
import dev.eventbus.jdbc.ChildJvm;
import dev.eventbus.jdbc.Inbox;
import dev.eventbus.jdbc.JdbcTransport;
import dev.eventbus.jdbc.PooledTestDataSource;
import dev.eventbus.jdbc.SchemaMode;
import dev.eventbus.jdbc.TestDatabases;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Case 1: a process that publishes 10,000 events through the JDBC outbox on PostgreSQL and relays them to the JDBC
 * transport is killed with SIGKILL five times while it runs, and restarted each time. A consumer in this JVM
 * handles them through the {@link Inbox} and writes one side-effect row per handling (no unique key, so a duplicate
 * would show). Every event's side effect happens exactly once: 0 lost, 0 duplicated.
 */
class OutboxKillTest {

    private static final int TOTAL = 10_000;
    private static final int KEYS = 50;
    private static final int KILLS = 5;

    private static DataSource postgres;
    private static PooledTestDataSource pool;
    private static String prefix;

    @BeforeAll
    static void database() throws SQLException {
        postgres = TestDatabases.postgres();
        pool = new PooledTestDataSource(postgres);
        prefix = TestDatabases.uniquePrefix("fault");
        try (Connection c = postgres.getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE " + prefix + "orders (seq BIGINT PRIMARY KEY)");
            s.execute("CREATE TABLE " + prefix + "effects (seq BIGINT NOT NULL)");
        }
    }

    @AfterAll
    static void dropTables() {
        if (pool != null) {
            pool.close();
            TestDatabases.dropTables(postgres, prefix);
        }
    }

    /** The JDBC transport both sides use: the relay sends to it, the consumer reads it. */
    static JdbcTransport.Builder transport(DataSource ds, String prefix) {
        return JdbcTransport.builder(ds).tablePrefix(prefix).schemaMode(SchemaMode.ALWAYS).partitions(8)
                .pollInterval(Duration.ofMillis(50)).lease(Duration.ofSeconds(5), Duration.ofMillis(100))
                .commitInterval(Duration.ofMillis(20)).startAtEarliest(true);
    }

    @Test
    void fiveKillsOfThePublishingRelayingProcessLoseNothingAndDuplicateNoSideEffect() throws Exception {
        String stream = Figures.unique("fault-outbox");
        long t0 = System.nanoTime();
        JdbcTransport consumerTransport = transport(pool, prefix).build();
        List<Long> killedAt = new ArrayList<>();
        List<Long> killSeconds = new ArrayList<>();
        long inboxDuplicates;
        try (Inbox inbox = Inbox.builder(pool).tablePrefix(prefix).schemaMode(SchemaMode.ALWAYS).build();
             EventBus consumer = EventBus.builder().service("fault-consumer").defaultStream(stream)
                .transport(consumerTransport).consumeInterceptor(inbox).concurrency(4).build()) {
            consumer.subscribe(Tick.class, "effects", e -> {
                try (PreparedStatement ps = Inbox.connection().prepareStatement("INSERT INTO " + prefix
                        + "effects (seq) VALUES (?)")) {
                    ps.setLong(1, e.seq());
                    ps.executeUpdate();
                }
            });
            ChildJvm child = startChild(stream);
            try {
                for (int k = 1; k <= KILLS; k++) {
                    long threshold = (long) TOTAL * k / (KILLS + 1);
                    ChildJvm running = child;
                    Figures.await(threshold + " orders committed before kill " + k, Duration.ofSeconds(120),
                            () -> count("SELECT COUNT(*) FROM " + prefix + "orders") >= threshold || !running.isAlive(),
                            () -> running.output());
                    assertThat(child.isAlive()).as("publisher alive before kill %s; it printed %s", k,
                            child.output()).isTrue();
                    child.kill();
                    killedAt.add(count("SELECT COUNT(*) FROM " + prefix + "orders"));
                    killSeconds.add((System.nanoTime() - t0) / 1_000_000_000L);
                    child = startChild(stream);
                }
                ChildJvm last = child;
                Figures.await("every order committed", Duration.ofSeconds(120),
                        () -> last.output().contains("PUBLISHED"), last::output);
                Figures.await("every event's side effect done", Duration.ofSeconds(120),
                        () -> count("SELECT COUNT(DISTINCT seq) FROM " + prefix + "effects") >= TOTAL,
                        () -> count("SELECT COUNT(DISTINCT seq) FROM " + prefix + "effects") + " distinct effects");
                Thread.sleep(500); // room for a late duplicate to show
            } finally {
                child.close();
            }
            inboxDuplicates = inbox.duplicates();
        }
        long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
        long orders = count("SELECT COUNT(*) FROM " + prefix + "orders");
        long effects = count("SELECT COUNT(*) FROM " + prefix + "effects");
        long distinct = count("SELECT COUNT(DISTINCT seq) FROM " + prefix + "effects");
        long inRange = count("SELECT COUNT(DISTINCT seq) FROM " + prefix + "effects WHERE seq >= 0 AND seq < " + TOTAL);
        long sent = count("SELECT COUNT(*) FROM " + prefix + "log");
        Figures.print("outbox-kill9", "events", TOTAL, "kills", killedAt.size(), "orders-at-kills", killedAt, "kill-at-seconds", killSeconds,
                "orders", orders, "sent-to-transport", sent, "resent-by-relay", sent - orders,
                "inbox-duplicates-skipped", inboxDuplicates, "side-effects", effects,
                "lost", TOTAL - inRange, "duplicate-side-effects", effects - distinct, "seconds", seconds);
        assertThat(killedAt).hasSize(KILLS);
        assertThat(orders).isEqualTo(TOTAL);
        assertThat(inRange).as("events whose side effect happened (0 lost)").isEqualTo(TOTAL);
        assertThat(effects - distinct).as("duplicate side effects").isZero();
    }

    private static ChildJvm startChild(String stream) throws Exception {
        ChildJvm child = ChildJvm.start(OutboxPublisherApp.class, List.of("-Xmx256m", "-XX:TieredStopAtLevel=1"),
                TestDatabases.POSTGRES_URL, prefix, stream, Integer.toString(TOTAL), Integer.toString(KEYS));
        child.awaitLine("READY", Duration.ofSeconds(120));
        return child;
    }

    private static long count(String sql) {
        try (Connection c = postgres.getConnection(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        } catch (SQLException e) {
            throw new AssertionError(sql + ": " + e, e);
        }
    }
}
