package dev.eventbus.jdbc;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.testkit.Recorder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import javax.sql.DataSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The database goes away under a running relay and a running consumer (their server connections are killed with
 * {@code pg_terminate_backend}, as a failover or restart would): both back off, reconnect and carry on; nothing is
 * lost, nothing is marked published that the target did not acknowledge, and each key stays in order (counting
 * first deliveries: what a crash resends comes again, at least once).
 */
class PostgresFaultsTest {

    private static DataSource ds;
    private static String prefix;
    /** What the relay and the consumer under test connect through: tagged, so only their connections are killed. */
    private static DataSource victim;

    @BeforeAll
    static void database() {
        ds = TestDatabases.postgres();
        prefix = TestDatabases.uniquePrefix("pf");
        String url = TestDatabases.POSTGRES_URL;
        victim = new dev.eventbus.jdbc.internal.DriverManagerDataSource(url + (url.contains("?") ? "&" : "?")
                + "ApplicationName=" + prefix + "victim", null, null);
    }

    @AfterAll
    static void dropTables() {
        if (ds != null) {
            TestDatabases.dropTables(ds, prefix);
        }
    }

    /** Kills every server connection of the components under test, as a database failover would. */
    private static int killConnections() throws Exception {
        try (Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
                     + " WHERE pid <> pg_backend_pid() AND application_name = ?")) {
            ps.setString(1, prefix + "victim");
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    private static TransportMessage message(String key, String body) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, UUID.randomUUID().toString());
        h.put(MessageHeaders.TYPE, "fault.test");
        h.put(MessageHeaders.SOURCE, "/faults");
        return TransportMessage.of("orders", key, h, body.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void theRelayBacksOffAndResumesWhenItsDatabaseConnectionDies() throws Exception {
        Outbox outbox = Outbox.builder(ds).tablePrefix(prefix).schemaMode(SchemaMode.ALWAYS).build();
        int n = 2_000;
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            List<TransportMessage> batch = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                batch.add(message("k-" + (i % 20), (i % 20) + ":" + i));
            }
            outbox.publishMessages(batch, c);
            c.commit();
        }
        TestTarget target = new TestTarget("t");
        target.ackDelayMicros = 200;
        try (OutboxRelay relay = OutboxRelay.builder(victim, target).tablePrefix(prefix).batchSize(100)
                .pollInterval(Duration.ofMillis(20)).lease(Duration.ofSeconds(4), Duration.ofMillis(200))
                .sendTimeout(Duration.ofSeconds(1)).build()) {
            OutboxTests.await("the relay is sending", Duration.ofSeconds(20), () -> target.accepted().size() > 100);
            int killed = 0;
            for (int round = 0; round < 3; round++) {
                killed += killConnections();
                Thread.sleep(300);
            }
            assertThat(killed).as("connections killed").isPositive();
            OutboxTests.await("everything is sent after the relay reconnected", Duration.ofSeconds(60),
                    () -> new LinkedHashSet<>(bodies(target)).size() == n);
            OutboxTests.await("and recorded as published", Duration.ofSeconds(30), () -> {
                try (Connection c = ds.getConnection(); Statement s = c.createStatement();
                     ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM " + prefix + "outbox"
                             + " WHERE status = 'published'")) {
                    rs.next();
                    return rs.getInt(1) == n;
                } catch (Exception e) {
                    return false;
                }
            });
        }
        assertFirstDeliveriesInOrder(bodies(target), 20, n / 20);
    }

    @Test
    void aConsumerReconnectsAndMissesNothingWhenItsDatabaseConnectionDies() throws Exception {
        int n = 600;
        try (JdbcTransport t = JdbcContractFixture.fastBuilder(victim, prefix).build()) {
            JdbcTransport sender = JdbcContractFixture.fastBuilder(ds, prefix).build();
            try {
                Recorder probe = new Recorder();
                String s = "faults-" + UUID.randomUUID().toString().substring(0, 8);
                t.subscribe(new SubscriptionRequest("g", s, Set.of(), 2, true), probe);
                int killed = 0;
                List<CompletableFuture<Void>> sent = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    sent.add(sender.send(message("k-" + (i % 10), (i % 10) + ":" + i).withStream(s)));
                    if (i == n / 3 || i == 2 * n / 3) {
                        sent.forEach(CompletableFuture::join);
                        killed += killConnections();
                    }
                    if (i % 50 == 0) {
                        Thread.sleep(20);
                    }
                }
                for (CompletableFuture<Void> f : sent) {
                    try {
                        f.join();
                    } catch (RuntimeException appendFailed) {
                        // an append caught by the kill failed visibly; the test below only counts committed ones
                    }
                }
                assertThat(killed).as("connections killed").isPositive();
                OutboxTests.await("every committed event arrives", Duration.ofSeconds(60),
                        () -> new LinkedHashSet<>(probe.bodies()).size() >= committed(s));
                assertThat(new LinkedHashSet<>(probe.bodies())).hasSize(committed(s));
                assertFirstDeliveriesInOrder(probe.bodies(), 10, -1);
            } finally {
                sender.close();
            }
        }
    }

    private static int committed(String stream) {
        try (Connection c = ds.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM " + prefix + "log WHERE stream = ?")) {
            ps.setString(1, stream);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    private static List<String> bodies(TestTarget target) {
        List<String> out = new ArrayList<>();
        for (TestTarget.Sent s : target.accepted()) {
            out.add(s.body());
        }
        return out;
    }

    /** Per key, the first delivery of each event comes in order (resends after a crash are allowed). */
    private static void assertFirstDeliveriesInOrder(List<String> bodies, int keys, int perKey) {
        Map<String, List<Integer>> firsts = new HashMap<>();
        Set<String> seen = new LinkedHashSet<>();
        for (String b : bodies) {
            if (seen.add(b)) {
                String[] p = b.split(":");
                firsts.computeIfAbsent(p[0], k -> new ArrayList<>()).add(Integer.parseInt(p[1]));
            }
        }
        assertThat(firsts).hasSize(keys);
        firsts.forEach((k, seqs) -> {
            assertThat(seqs).as("key %s in order", k).isSorted();
            if (perKey > 0) {
                assertThat(seqs).hasSize(perKey);
            }
        });
    }
}
