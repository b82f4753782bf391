package dev.eventbus.jdbc;

import dev.eventbus.EventBusException;
import dev.eventbus.InMemoryTransport;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.testkit.Recorder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import javax.sql.DataSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The transactional outbox and its relay against a real database: atomicity with the caller's transaction,
 * per-key order with several relays, lease expiry after a relay dies, poison rows, target outages, retention.
 * One subclass per database; each uses tables of its own (a unique prefix) and drops them afterwards.
 */
abstract class OutboxTests {

    abstract DataSource dataSource();

    abstract String prefix();

    private final List<AutoCloseable> closeAfter = new ArrayList<>();

    @AfterEach
    void closeAndClean() throws Exception {
        for (int i = closeAfter.size() - 1; i >= 0; i--) {
            closeAfter.get(i).close();
        }
        closeAfter.clear();
        try (Connection c = dataSource().getConnection(); Statement s = c.createStatement()) {
            s.executeUpdate("DELETE FROM " + prefix() + "outbox");
            s.executeUpdate("DELETE FROM " + prefix() + "outbox_lease");
            s.executeUpdate("DELETE FROM " + prefix() + "outbox_relay");
        }
    }

    Outbox outbox() {
        return Outbox.builder(dataSource()).tablePrefix(prefix()).schemaMode(SchemaMode.ALWAYS).build();
    }

    OutboxRelay.Builder relay(dev.eventbus.spi.Transport target) {
        return OutboxRelay.builder(dataSource(), target)
                .tablePrefix(prefix())
                .schemaMode(SchemaMode.ALWAYS)
                .pollInterval(Duration.ofMillis(20))
                .lease(Duration.ofSeconds(2), Duration.ofMillis(100))
                .sendTimeout(Duration.ofMillis(800))
                .retries(3, Duration.ofMillis(50), Duration.ofMillis(200));
    }

    OutboxRelay start(OutboxRelay.Builder b) {
        OutboxRelay r = b.build();
        closeAfter.add(r);
        return r;
    }

    static TransportMessage message(String stream, String key, String body) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, UUID.randomUUID().toString());
        h.put(MessageHeaders.SPECVERSION, MessageHeaders.SPEC_VERSION_1_0);
        h.put(MessageHeaders.SOURCE, "/outbox-test");
        h.put(MessageHeaders.TYPE, "outbox.test");
        if (key != null) {
            h.put(MessageHeaders.SUBJECT, key);
        }
        return TransportMessage.of(stream, key, h, body.getBytes(StandardCharsets.UTF_8));
    }

    interface TxWork {
        void run(Connection c) throws Exception;
    }

    void inTransaction(TxWork work, boolean commit) throws Exception {
        try (Connection c = dataSource().getConnection()) {
            c.setAutoCommit(false);
            try {
                work.run(c);
            } catch (Exception e) {
                c.rollback();
                throw e;
            }
            if (commit) {
                c.commit();
            } else {
                c.rollback();
            }
        }
    }

    Map<String, Long> statuses() throws SQLException {
        try (Connection c = dataSource().getConnection()) {
            return outbox().countByStatus(c);
        }
    }

    static void await(String what, Duration timeout, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(20);
        }
    }

    static String body(TransportMessage m) {
        return new String(m.body(), StandardCharsets.UTF_8);
    }

    @Test
    void rollbackPublishesNothingAndCommitPublishesExactlyTheCommittedEvents() throws Exception {
        Outbox outbox = outbox();
        InMemoryTransport memory = new InMemoryTransport();
        closeAfter.add(memory);
        Recorder rec = new Recorder();
        memory.subscribe(new SubscriptionRequest("g", "orders", Set.of(), 1, true), rec);
        start(relay(memory));

        inTransaction(c -> outbox.publish(message("orders", "o-1", "rolled-back"), c), false);
        inTransaction(c -> outbox.publish(message("orders", "o-2", "committed-1"), c), true);
        inTransaction(c -> outbox.publishMessages(List.of(message("orders", "o-3", "committed-2"),
                message("orders", "o-3", "committed-3"), message("orders", null, "committed-4")), c), true);
        assertThatThrownBy(() -> inTransaction(c -> {
            outbox.publish(message("orders", "o-4", "rolled-back-2"), c);
            throw new SQLException("business rule failed");
        }, true)).hasMessageContaining("business rule failed");
        assertThatThrownBy(() -> inTransaction(c -> {
            outbox.publish(message("orders", "o-5", "rolled-back-3"), c);
            throw new IllegalStateException("caller failed after publishing");
        }, true)).hasMessageContaining("caller failed");

        rec.awaitCount(4, Duration.ofSeconds(20));
        assertThat(rec.after(Duration.ofMillis(500))).extracting(Recorder.Received::body)
                .containsExactlyInAnyOrder("committed-1", "committed-2", "committed-3", "committed-4");
        await("all rows published", Duration.ofSeconds(10), () -> {
            try {
                return statuses().equals(Map.of("published", 4L));
            } catch (SQLException e) {
                return false;
            }
        });
    }

    @Test
    void refusesAConnectionInAutoCommitMode() throws Exception {
        Outbox outbox = outbox();
        try (Connection c = dataSource().getConnection()) {
            c.setAutoCommit(true);
            assertThatThrownBy(() -> outbox.publish(message("orders", "k", "x"), c))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("auto-commit");
        }
        assertThat(statuses()).isEmpty();
    }

    @Test
    void countsRowsBeforeAnyRelayEverRan() throws Exception {
        Outbox outbox = outbox();
        inTransaction(c -> outbox.publishMessages(List.of(message("orders", "a", "1"), message("orders", null, "2")), c),
                true);
        assertThat(statuses()).isEqualTo(Map.of("pending", 2L));
    }

    @Test
    void refusesToPublishEventsWithoutABus() throws Exception {
        Outbox outbox = outbox();
        inTransaction(c -> assertThatThrownBy(() -> outbox.publish(new Object(), c))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("without an EventBus"), false);
    }

    @Test
    void aMissingTableFailsAtStartWithTheDdlToRun() {
        String fresh = TestDatabases.uniquePrefix("missing");
        assertThatThrownBy(() -> Outbox.builder(dataSource()).tablePrefix(fresh).schemaMode(SchemaMode.NEVER).build())
                .isInstanceOf(EventBusException.class)
                .hasMessageContaining(fresh + "outbox does not exist")
                .hasMessageContaining("CREATE TABLE IF NOT EXISTS " + fresh + "outbox");
        assertThatThrownBy(() -> OutboxRelay.builder(dataSource(), new TestTarget("t")).tablePrefix(fresh)
                .schemaMode(SchemaMode.NEVER).build())
                .isInstanceOf(EventBusException.class)
                .hasMessageContaining("CREATE TABLE IF NOT EXISTS " + fresh + "outbox_lease");
    }

    @Test
    void aPoisonRowEndsAbandonedWhileTheOthersFlow() throws Exception {
        Outbox outbox = outbox();
        TestTarget target = new TestTarget("t");
        TransportMessage poison = message("orders", "k-poison", "poison");
        target.refuse = m -> m.id().equals(poison.id())
                ? new EventBusException("message too large for the broker", null, false) : null;
        inTransaction(c -> {
            outbox.publish(poison, c);
            for (int i = 0; i < 20; i++) {
                outbox.publish(message("orders", "k-" + (i % 5), "ok-" + i), c);
            }
            outbox.publish(message("orders", "k-poison", "after-poison"), c);
        }, true);
        OutboxRelay relay = start(relay(target));

        await("the others and the row after the poison are sent", Duration.ofSeconds(20),
                () -> target.accepted().size() == 21);
        assertThat(target.accepted()).extracting(s -> body(s.message())).contains("after-poison")
                .doesNotContain("poison");
        await("the rows are recorded", Duration.ofSeconds(10), () -> {
            try {
                return statuses().equals(Map.of("published", 21L, "abandoned", 1L));
            } catch (SQLException e) {
                return false;
            }
        });
        try (Connection c = dataSource().getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT status, attempts, last_error FROM " + prefix()
                     + "outbox WHERE event_id = ?")) {
            ps.setString(1, poison.id());
            try (ResultSet rs = ps.executeQuery()) {
                assertThat(rs.next()).isTrue();
                assertThat(rs.getString(1)).isEqualTo("abandoned");
                assertThat(rs.getInt(2)).isEqualTo(3);
                assertThat(rs.getString(3)).contains("message too large for the broker");
            }
        }
        await("the relay counted the abandoned row", Duration.ofSeconds(5), () -> relay.stats().abandoned() == 1);

        // After the cause is fixed, an operator requeues it and it goes out.
        target.refuse = m -> null;
        assertThat(relay.requeueAbandoned()).isEqualTo(1);
        await("the requeued row is sent", Duration.ofSeconds(10), () -> target.accepted().size() == 22);
        await("and recorded", Duration.ofSeconds(10), () -> {
            try {
                return statuses().equals(Map.of("published", 22L));
            } catch (SQLException e) {
                return false;
            }
        });
    }

    @Test
    void aTargetOutageBacksOffWithoutSpendingAttempts() throws Exception {
        Outbox outbox = outbox();
        TestTarget target = new TestTarget("t");
        target.refuse = m -> new EventBusException("broker unreachable", null, true);
        inTransaction(c -> {
            for (int i = 0; i < 10; i++) {
                outbox.publish(message("orders", "k-" + i, "m-" + i), c);
            }
        }, true);
        OutboxRelay relay = start(relay(target));
        await("the relay noticed the outage several times", Duration.ofSeconds(10),
                () -> relay.stats().outages() >= 3);
        assertThat(statuses()).isEqualTo(Map.of("pending", 10L));
        target.refuse = m -> null;
        await("everything is sent once the target is back", Duration.ofSeconds(10),
                () -> target.accepted().size() == 10);
        await("all rows published", Duration.ofSeconds(10), () -> {
            try {
                return statuses().equals(Map.of("published", 10L));
            } catch (SQLException e) {
                return false;
            }
        });
        try (Connection c = dataSource().getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT MAX(attempts) FROM " + prefix() + "outbox")) {
            rs.next();
            assertThat(rs.getInt(1)).as("an outage spends no attempts").isZero();
        }
    }

    @Test
    void aRelayKilledMidBatchLosesNothing() throws Exception {
        Outbox outbox = outbox();
        inTransaction(c -> {
            for (int i = 0; i < 50; i++) {
                outbox.publish(message("orders", "k-" + (i % 7), (i % 7) + ":" + i), c);
            }
        }, true);
        TestTarget stuck = new TestTarget("stuck");
        stuck.hang = true;
        OutboxRelay first = relay(stuck).lease(Duration.ofSeconds(1), Duration.ofMillis(100))
                .sendTimeout(Duration.ofMillis(500)).build();
        await("the first relay has rows in flight", Duration.ofSeconds(10),
                () -> stuck.attempts.get() > 0);
        first.halt(); // dies: nothing recorded, leases not handed over
        Map<String, Long> afterCrash = statuses();
        assertThat(afterCrash).as("nothing marked published that was not acknowledged")
                .doesNotContainKey("published").containsKey("in_flight");
        try (Connection c = dataSource().getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT DISTINCT lease_owner FROM " + prefix()
                     + "outbox_status WHERE status = 'in_flight'")) {
            assertThat(rs.next()).isTrue();
            assertThat(rs.getString(1)).as("the view names the relay holding them").isEqualTo(first.relayId());
        }

        TestTarget target = new TestTarget("second");
        OutboxRelay second = start(relay(target));
        await("the second relay resends everything once the lease expired", Duration.ofSeconds(20),
                () -> target.accepted().size() == 50);
        Map<String, List<Integer>> byKey = new HashMap<>();
        for (TestTarget.Sent s : target.accepted()) {
            String[] p = s.body().split(":");
            byKey.computeIfAbsent(p[0], k -> new ArrayList<>()).add(Integer.parseInt(p[1]));
        }
        assertThat(byKey).hasSize(7);
        byKey.forEach((k, seqs) -> assertThat(seqs).as("key %s in order", k).isSorted().doesNotHaveDuplicates());
        await("all rows published", Duration.ofSeconds(10), () -> {
            try {
                return statuses().equals(Map.of("published", 50L));
            } catch (SQLException e) {
                return false;
            }
        });
        await("the second relay counted them", Duration.ofSeconds(5), () -> second.stats().published() == 50);
    }

    @Test
    void retentionDeletesOnlyPublishedRowsOlderThanTheRetention() throws Exception {
        Outbox outbox = outbox();
        Map<String, String> idsByRole = new LinkedHashMap<>();
        inTransaction(c -> {
            for (String role : List.of("old-published-1", "old-published-2", "new-published", "old-pending",
                    "old-abandoned", "old-failed")) {
                TransportMessage m = message("orders", role, role);
                idsByRole.put(role, m.id());
                outbox.publish(m, c);
            }
        }, true);
        long old = System.currentTimeMillis() - Duration.ofHours(2).toMillis();
        try (Connection c = dataSource().getConnection();
             PreparedStatement ps = c.prepareStatement("UPDATE " + prefix() + "outbox SET status = ?,"
                     + " published_at = ?, created_at = ? WHERE event_id = ?")) {
            Object[][] states = {
                    {"old-published-1", "published", old}, {"old-published-2", "published", old},
                    {"new-published", "published", System.currentTimeMillis()},
                    {"old-pending", "pending", null}, {"old-abandoned", "abandoned", null},
                    {"old-failed", "failed", null}};
            for (Object[] st : states) {
                ps.setString(1, (String) st[1]);
                if (st[2] == null) {
                    ps.setNull(2, java.sql.Types.BIGINT);
                } else {
                    ps.setLong(2, (Long) st[2]);
                }
                ps.setLong(3, old);
                ps.setString(4, idsByRole.get((String) st[0]));
                ps.executeUpdate();
            }
        }
        TestTarget target = new TestTarget("t");
        target.hang = true; // keep the unfinished rows unfinished
        OutboxRelay relay = start(relay(target).retention(Duration.ofHours(1), Duration.ofHours(1)));
        // The relay holding partition 0 also purges on its own schedule (first round included): whichever runs
        // first, only the two old published rows may go.
        assertThat(relay.purgeNow()).isBetween(0L, 2L);
        Set<String> left = new HashSet<>();
        try (Connection c = dataSource().getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT event_id FROM " + prefix() + "outbox")) {
            while (rs.next()) {
                left.add(rs.getString(1));
            }
        }
        assertThat(left).containsExactlyInAnyOrder(idsByRole.get("new-published"), idsByRole.get("old-pending"),
                idsByRole.get("old-abandoned"), idsByRole.get("old-failed"));
    }

    @Test
    void relaysToTheJdbcTransport() throws Exception {
        Outbox outbox = outbox();
        JdbcTransport transport = JdbcContractFixture.fastBuilder(dataSource(), prefix()).build();
        closeAfter.add(transport);
        Recorder rec = new Recorder();
        transport.subscribe(new SubscriptionRequest("billing", "orders", Set.of(), 2, true), rec);
        start(relay(transport));
        inTransaction(c -> {
            for (int i = 0; i < 30; i++) {
                outbox.publish(message("orders", "k-" + (i % 3), (i % 3) + ":" + i), c);
            }
        }, true);
        List<Recorder.Received> got = rec.awaitCount(30, Duration.ofSeconds(20));
        Map<String, List<Integer>> byKey = new HashMap<>();
        for (Recorder.Received r : got) {
            String[] p = r.body().split(":");
            byKey.computeIfAbsent(p[0], k -> new ArrayList<>()).add(Integer.parseInt(p[1]));
        }
        byKey.forEach((k, seqs) -> assertThat(seqs).as("key %s in order, each once", k).isSorted()
                .doesNotHaveDuplicates().hasSize(10));
    }

    /**
     * A target that acknowledges a send only after the relay's send timeout (a slow append, a slow broker): the row
     * is neither sent again while that send may still succeed, nor overtaken by the next rows of its key. This was
     * how {@link #relaysToTheJdbcTransport} failed under load, with {@code [0, 3, 6, 9, 9, 12, ...]}.
     */
    @Test
    void aSendAcknowledgedAfterTheSendTimeoutIsNeitherRepeatedNorOvertaken() throws Exception {
        Outbox outbox = outbox();
        TestTarget target = new TestTarget("slow");
        java.util.concurrent.atomic.AtomicBoolean first = new java.util.concurrent.atomic.AtomicBoolean(true);
        // The relay's send timeout is 800 ms and its lease 2 s: the first send is answered after 1.5 s.
        target.ackDelay = m -> body(m).equals("k:0") && first.getAndSet(false) ? 1_500_000 : 0;
        inTransaction(c -> {
            for (int i = 0; i < 5; i++) {
                outbox.publish(message("orders", "k", "k:" + i), c);
            }
            outbox.publish(message("orders", "other", "other:0"), c);
        }, true);
        OutboxRelay relay = start(relay(target));
        await("every row published", Duration.ofSeconds(20), () -> {
            try {
                return statuses().equals(Map.of("published", 6L));
            } catch (SQLException e) {
                return false;
            }
        });
        Thread.sleep(300);
        assertThat(target.accepted()).extracting(TestTarget.Sent::body).filteredOn(b -> b.startsWith("k:"))
                .containsExactly("k:0", "k:1", "k:2", "k:3", "k:4");
        assertThat(target.accepted()).extracting(TestTarget.Sent::body).contains("other:0");
        assertThat(target.shared.concurrentKeyViolations.get()).as("a key sent again while in flight").isZero();
        assertThat(relay.stats().published()).isEqualTo(6);
    }

    /**
     * Three relays drain 10,000 events of 100 keys while they are being written: each event is sent once, the
     * events of one key in commit order, and no key is ever in flight from two relays at once.
     */
    @Test
    void threeRelaysKeepPerKeyOrderAndNeverSendAKeyConcurrently() throws Exception {
        Outbox outbox = outbox();
        TestTarget.Shared shared = new TestTarget.Shared();
        List<TestTarget> targets = new ArrayList<>();
        List<OutboxRelay> relays = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            TestTarget t = new TestTarget("relay-" + i, shared);
            t.ackDelayMicros = 300; // acknowledgements arrive later, so overlapping sends would be visible
            targets.add(t);
            relays.add(start(relay(t).name("relay-" + i).batchSize(200)));
        }
        int keys = 100;
        int total = 10_000;
        int[] next = new int[keys];
        AtomicInteger written = new AtomicInteger();
        for (int tx = 0; tx < total / 50; tx++) {
            inTransaction(c -> {
                List<TransportMessage> batch = new ArrayList<>();
                for (int i = 0; i < 50; i++) {
                    int n = written.getAndIncrement();
                    int k = (n * 7) % keys;
                    batch.add(message("orders", "key-" + k, k + ":" + next[k]++));
                }
                outbox.publishMessages(batch, c);
            }, true);
        }
        await("all 10,000 sent", Duration.ofSeconds(120), () -> shared.accepted.size() >= total);

        List<TestTarget.Sent> sent = targets.get(0).accepted();
        assertThat(sent).hasSize(total);
        Map<String, List<Integer>> byKey = new HashMap<>();
        Map<String, Integer> perRelay = new HashMap<>();
        for (TestTarget.Sent s : sent) {
            String[] p = s.body().split(":");
            byKey.computeIfAbsent(p[0], k -> new ArrayList<>()).add(Integer.parseInt(p[1]));
            perRelay.merge(s.target(), 1, Integer::sum);
        }
        assertThat(byKey).hasSize(keys);
        byKey.forEach((k, seqs) -> {
            assertThat(seqs).as("key %s in commit order, each once", k).isSorted().doesNotHaveDuplicates();
            assertThat(seqs).hasSize(total / keys);
        });
        assertThat(shared.concurrentKeyViolations.get()).as("a key in flight from two relays at once").isZero();
        assertThat(perRelay).as("every relay did part of the work: %s", perRelay).hasSize(3);
        await("all rows published", Duration.ofSeconds(20), () -> {
            try {
                return statuses().equals(Map.of("published", (long) total));
            } catch (SQLException e) {
                return false;
            }
        });
        await("the relays counted them", Duration.ofSeconds(5),
                () -> relays.stream().mapToLong(r -> r.stats().published()).sum() == total);
    }
}
