package dev.eventbus.jdbc;

import dev.eventbus.DeadLetter;
import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayResult;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import dev.eventbus.jdbc.internal.LogSubscription;
import dev.eventbus.testkit.Recorder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** What the JDBC transport does beyond the shared contract, on a real database. */
abstract class JdbcTransportTests {

    abstract DataSource dataSource();

    abstract String prefix();

    private final List<JdbcTransport> opened = new ArrayList<>();
    private final String run = UUID.randomUUID().toString().substring(0, 8);

    JdbcTransport transport() {
        JdbcTransport t = JdbcContractFixture.fastBuilder(dataSource(), prefix()).build();
        opened.add(t);
        return t;
    }

    @AfterEach
    void close() {
        opened.forEach(t -> t.close(Duration.ofSeconds(5)));
        opened.clear();
    }

    String stream(String name) {
        return name + "-" + run;
    }

    static TransportMessage message(String stream, String key, String body, String type) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, UUID.randomUUID().toString());
        h.put(MessageHeaders.TYPE, type);
        h.put(MessageHeaders.SOURCE, "/test");
        return TransportMessage.of(stream, key, h, body.getBytes(StandardCharsets.UTF_8));
    }

    static SubscriptionRequest request(String group, String stream, int concurrency) {
        return new SubscriptionRequest(group, stream, Set.of(), concurrency, true);
    }

    /**
     * Two instances append to one stream at once (single sends and batches, many transactions interleaving)
     * while a group reads: every event arrives exactly once. If commit order could differ from sequence order, a
     * cursor would pass an event that commits later and it would never arrive.
     */
    @Test
    void concurrentAppendersNeverLetAConsumerSkipAnEvent() throws Exception {
        String s = stream("race");
        JdbcTransport reader = transport();
        Recorder rec = new Recorder();
        reader.subscribe(request("g", s, 4), rec);
        List<JdbcTransport> writers = List.of(transport(), transport());
        int perWriter = 1_500;
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> jobs = new ArrayList<>();
            for (int w = 0; w < writers.size(); w++) {
                JdbcTransport t = writers.get(w);
                for (int half = 0; half < 2; half++) {
                    String prefix = "w" + w + "h" + half + "-";
                    boolean batches = half == 1;
                    jobs.add(pool.submit(() -> {
                        List<CompletableFuture<Void>> fs = new ArrayList<>();
                        for (int i = 0; i < perWriter / 2; i += batches ? 5 : 1) {
                            if (batches) {
                                List<TransportMessage> b = new ArrayList<>();
                                for (int j = 0; j < 5; j++) {
                                    b.add(message(s, prefix + ((i + j) % 10), prefix + (i + j), "t"));
                                }
                                fs.add(t.sendBatch(b));
                            } else {
                                fs.add(t.send(message(s, prefix + (i % 10), prefix + i, "t")));
                            }
                        }
                        fs.forEach(CompletableFuture::join);
                        return null;
                    }));
                }
            }
            for (Future<?> f : jobs) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
        int total = perWriter * writers.size();
        List<Recorder.Received> got = rec.awaitCount(total, Duration.ofSeconds(60));
        assertThat(rec.after(Duration.ofMillis(300))).hasSize(total);
        assertThat(new HashSet<>(got.stream().map(Recorder.Received::body).toList())).hasSize(total);
    }

    @Test
    void replayMovesAGroupBackToATimeOrASequence() throws Exception {
        String s = stream("replay");
        JdbcTransport t = transport();
        Recorder rec = new Recorder();
        TransportSubscription sub = t.subscribe(request("g", s, 1), rec);
        for (int i = 0; i < 5; i++) {
            t.send(message(s, "k", "early-" + i, "t")).join();
        }
        rec.awaitCount(5, Duration.ofSeconds(20));
        Thread.sleep(20);
        Instant middle = Instant.now();
        Thread.sleep(20);
        for (int i = 0; i < 5; i++) {
            t.send(message(s, "k", "late-" + i, "t")).join();
        }
        rec.awaitCount(10, Duration.ofSeconds(20));

        ReplayResult r = t.replay("g", s, ReplayFrom.time(middle));
        assertThat(r.moves()).hasSize(8).allSatisfy(m -> {
            assertThat(m.newPosition()).as("the first late event's sequence").isEqualTo(6);
            assertThat(m.transport()).isEqualTo("jdbc");
        });
        List<Recorder.Received> again = rec.awaitCount(15, Duration.ofSeconds(20));
        assertThat(again.subList(10, 15)).extracting(Recorder.Received::body)
                .containsExactly("late-0", "late-1", "late-2", "late-3", "late-4");

        t.replay("g", s, ReplayFrom.beginning());
        List<Recorder.Received> all = rec.awaitCount(25, Duration.ofSeconds(20));
        assertThat(all.subList(15, 25)).extracting(Recorder.Received::body).startsWith("early-0", "early-1")
                .endsWith("late-4");
        assertThat(rec.after(Duration.ofMillis(300))).hasSize(25);

        assertThat(t.replay("g", s, ReplayFrom.time(Instant.now().plusSeconds(60))).moves())
                .as("a time after the last event: the end").allSatisfy(m -> assertThat(m.newPosition()).isEqualTo(11));
        t.replay("g", s, ReplayFrom.position(9));
        assertThat(rec.awaitCount(27, Duration.ofSeconds(20)).subList(25, 27)).extracting(Recorder.Received::body)
                .containsExactly("late-3", "late-4");
        assertThat(rec.after(Duration.ofMillis(300))).hasSize(27);
        sub.close();
    }

    @Test
    void replayByPartitionMovesOnlyThePartitionsNamedAndReportsWhereTheyWere() throws Exception {
        String s = stream("replay-part");
        JdbcTransport t = transport();
        Recorder rec = new Recorder();
        TransportSubscription sub = t.subscribe(request("g", s, 1), rec);
        t.send(message(s, "k", "m0", "t")).join();
        int partition = partitionOf(s, 1);
        for (int i = 1; i < 4; i++) {
            t.send(message(s, "k", "m" + i, "t")).join();
        }
        rec.awaitCount(4, Duration.ofSeconds(20));
        Thread.sleep(200); // the cursor commit
        ReplayResult r = t.replay("g", s, ReplayFrom.positions(Map.of(partition, 3L)));
        assertThat(r.moves()).containsExactly(new ReplayResult.Move("jdbc", s, partition, 5, 3));
        rec.awaitCount(6, Duration.ofSeconds(20));
        assertThat(rec.after(Duration.ofMillis(300))).extracting(Recorder.Received::body)
                .containsExactly("m0", "m1", "m2", "m3", "m2", "m3");
        sub.close();

        assertThatThrownBy(() -> t.replay("g", s, ReplayFrom.positions(Map.of(8, 1L))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no partition 8");
        assertThatThrownBy(() -> t.replay("nobody", s, ReplayFrom.beginning()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("group 'nobody' has never read stream '" + s + "'");
    }

    /** An event of the bus-level replay test, on the bus's default stream. */
    public record Tick(String key, int n) implements dev.eventbus.Event {
        @Override
        public String eventKey() {
            return key;
        }
    }

    /**
     * The bus's replay on the JDBC transport: events published over time, all handled, then the group moved back to
     * a time in the middle re-handles exactly the events from that time on, in order per key, once.
     */
    @Test
    void theBusReplaysAGroupFromATimeOnTheJdbcTransport() throws Exception {
        String s = stream("bus-replay");
        JdbcTransport t = transport();
        List<String> got = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (dev.eventbus.EventBus bus = dev.eventbus.EventBus.builder().service("svc").transport(t)
                .defaultStream(s).build()) {
            bus.subscribe(Tick.class, "readers", e -> got.add(e.key() + e.n()));
            for (int i = 0; i < 10; i++) {
                bus.publish(new Tick(i % 2 == 0 ? "a" : "b", i)).join();
            }
            awaitSize(got, 10);
            Thread.sleep(30);
            Instant middle = Instant.now();
            Thread.sleep(30);
            List<String> late = new ArrayList<>();
            for (int i = 10; i < 20; i++) {
                String key = i % 2 == 0 ? "a" : "b";
                bus.publish(new Tick(key, i)).join();
                late.add(key + i);
            }
            awaitSize(got, 20);

            ReplayResult r = bus.replay("readers", ReplayFrom.time(middle));
            assertThat(r.moves()).hasSize(8).allSatisfy(m -> {
                assertThat(m.stream()).isEqualTo(s);
                assertThat(m.newPosition()).isEqualTo(11);
            });
            awaitSize(got, 30);
            Thread.sleep(500);
            assertThat(got).hasSize(30);
            List<String> again = got.subList(20, 30);
            assertThat(again).containsExactlyInAnyOrderElementsOf(late);
            for (String key : List.of("a", "b")) {
                assertThat(again.stream().filter(x -> x.startsWith(key)).toList())
                        .containsExactlyElementsOf(late.stream().filter(x -> x.startsWith(key)).toList());
            }
        }
    }

    static void awaitSize(List<?> list, int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (list.size() < n) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("expected " + n + " but got " + list.size() + ": " + list);
            }
            Thread.sleep(10);
        }
    }

    /**
     * A replay made on one instance moves the partitions another instance holds too: the cursor rows are the truth,
     * and the other instance sees their new epoch at its next heartbeat. Every message is handled once more, by
     * whichever instance holds its partition.
     */
    @Test
    void aReplayOnOneInstanceMovesThePartitionsTheOtherInstancesHold() throws Exception {
        String s = stream("replay-two");
        JdbcTransport here = transport();
        JdbcTransport elsewhere = transport();
        Recorder a = new Recorder();
        Recorder b = new Recorder();
        LogSubscription subA = (LogSubscription) here.subscribe(request("g", s, 2), a);
        LogSubscription subB = (LogSubscription) elsewhere.subscribe(request("g", s, 2), b);
        assertThat(subA.awaitBalanced(Duration.ofSeconds(15))).isTrue();
        assertThat(subB.awaitBalanced(Duration.ofSeconds(15))).isTrue();
        List<String> sent = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            here.send(message(s, "k" + i, "m" + i, "t")).join();
            sent.add("m" + i);
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (a.count() + b.count() < 40) {
            assertThat(System.nanoTime()).as("first pass").isLessThan(deadline);
            Thread.sleep(20);
        }
        assertThat(a.count()).as("both instances hold partitions").isPositive();
        assertThat(b.count()).as("both instances hold partitions").isPositive();

        here.replay("g", s, ReplayFrom.beginning());
        deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (a.count() + b.count() < 80) {
            assertThat(System.nanoTime()).as("the replay reaches both instances").isLessThan(deadline);
            Thread.sleep(20);
        }
        Thread.sleep(500);
        List<String> again = new ArrayList<>(a.bodies());
        again.addAll(b.bodies());
        assertThat(again).hasSize(80);
        assertThat(again).as("every message exactly twice").containsExactlyInAnyOrderElementsOf(
                java.util.stream.Stream.concat(sent.stream(), sent.stream()).toList());
    }

    int partitionOf(String stream, long seq) throws SQLException {
        try (Connection c = dataSource().getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT partition_no FROM " + prefix()
                     + "log WHERE stream = ? AND seq = ?")) {
            ps.setString(1, stream);
            ps.setLong(2, seq);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    /**
     * A replay is delivered once, even when the next heartbeat comes before the cursor commit. It used to be
     * delivered twice then: noticing the moved cursor also forgot the lease, so the next heartbeat took the
     * partition again as new, from the cursor still in the table. That was how
     * {@link #replayMovesAGroupBackToATimeOrASequence} failed under load ({@code late-*} twice).
     */
    @Test
    void aReplayIsDeliveredOnceWhenTheCursorCommitsAfterTheNextHeartbeat() throws Exception {
        String s = stream("replay-once");
        JdbcTransport t = JdbcContractFixture.fastBuilder(dataSource(), prefix())
                .commitInterval(Duration.ofSeconds(3)).build(); // heartbeats every 100 ms: many before a commit
        opened.add(t);
        Recorder rec = new Recorder();
        TransportSubscription sub = t.subscribe(request("g", s, 1), rec);
        for (int i = 0; i < 5; i++) {
            t.send(message(s, "k", "m-" + i, "t")).join();
        }
        rec.awaitCount(5, Duration.ofSeconds(20));
        t.replay("g", s, ReplayFrom.beginning());
        rec.awaitCount(10, Duration.ofSeconds(20));
        assertThat(rec.after(Duration.ofMillis(1_000))).extracting(Recorder.Received::body)
                .containsExactly("m-0", "m-1", "m-2", "m-3", "m-4", "m-0", "m-1", "m-2", "m-3", "m-4");
        sub.close();
    }

    @Test
    void retentionDeletesOnlyWhatEveryGroupHasRead() throws Exception {
        String s = stream("retention");
        JdbcTransport t = JdbcContractFixture.fastBuilder(dataSource(), prefix())
                .retention(Duration.ZERO, Duration.ofHours(1)).build();
        opened.add(t);
        Recorder fast = new Recorder();
        TransportSubscription slow = t.subscribe(request("slow", s, 1), new Recorder());
        slow.close(); // a group that has not read anything yet: its cursor stays at the start
        t.subscribe(request("fast", s, 1), fast);
        for (int i = 0; i < 20; i++) {
            t.send(message(s, "k" + (i % 3), "m" + i, "t")).join();
        }
        fast.awaitCount(20, Duration.ofSeconds(20));
        Thread.sleep(200); // let the cursor commit
        t.runRetention();
        assertThat(logRows(s)).as("the slow group still needs them").isEqualTo(20);

        Recorder late = new Recorder();
        t.subscribe(request("slow", s, 1), late);
        late.awaitCount(20, Duration.ofSeconds(20));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (logRows(s) > 0 && System.nanoTime() < deadline) {
            Thread.sleep(50);
            t.runRetention();
        }
        assertThat(logRows(s)).as("read by every group: deleted").isZero();
    }

    int logRows(String stream) throws SQLException {
        try (Connection c = dataSource().getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM " + prefix() + "log WHERE stream = ?")) {
            ps.setString(1, stream);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getInt(1);
            }
        }
    }

    @Test
    void anUnreadableRowIsDeadLetteredWithTheReasonAndTheOthersFlow() throws Exception {
        String s = stream("corrupt");
        JdbcTransport t = transport();
        TransportMessage bad = message(s, "k", "bad", "t");
        t.send(message(s, "k", "before", "t")).join();
        t.send(bad).join();
        t.send(message(s, "k", "after", "t")).join();
        try (Connection c = dataSource().getConnection();
             PreparedStatement ps = c.prepareStatement("UPDATE " + prefix() + "log SET headers = ? WHERE event_id = ?")) {
            ps.setString(1, "{not json");
            ps.setString(2, bad.id());
            assertThat(ps.executeUpdate()).isEqualTo(1);
        }
        Recorder rec = new Recorder();
        t.subscribe(request("g", s, 1), rec);
        assertThat(rec.awaitCount(2, Duration.ofSeconds(20))).extracting(Recorder.Received::body)
                .containsExactly("before", "after");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        List<DeadLetter> dead = t.deadLetters().list("g", 10);
        while (dead.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(50);
            dead = t.deadLetters().list("g", 10);
        }
        assertThat(dead).hasSize(1);
        assertThat(dead.get(0).message().id()).isEqualTo(bad.id());
        assertThat(new String(dead.get(0).message().body(), StandardCharsets.UTF_8)).isEqualTo("bad");
        assertThat(dead.get(0).reason()).contains("cannot be read").contains("headers JSON");
    }

    @Test
    void typesNoSubscriberWantsAreSkippedWithoutCallingTheHandler() throws Exception {
        String s = stream("types");
        JdbcTransport t = transport();
        Recorder rec = new Recorder();
        t.subscribe(new SubscriptionRequest("g", s, Set.of("wanted"), 1, true), rec);
        t.send(message(s, "k", "a", "unwanted")).join();
        t.send(message(s, "k", "b", "wanted")).join();
        t.send(message(s, "k", "c", "unwanted")).join();
        t.send(message(s, "k", "d", "wanted")).join();
        rec.awaitCount(2, Duration.ofSeconds(20));
        assertThat(rec.after(Duration.ofMillis(300))).extracting(Recorder.Received::body).containsExactly("b", "d");
    }

    @Test
    void aRetryKeepsItsAttemptAndHeadersAcrossAnInstanceHandover() throws Exception {
        String s = stream("handover");
        JdbcTransport first = transport();
        Recorder failing = new Recorder(d -> Outcome.retry(Duration.ofMillis(500), new IllegalStateException("x"),
                Map.of(MessageHeaders.ATTEMPTS, Integer.toString(d.attempt()))));
        TransportSubscription sub = first.subscribe(request("g", s, 1), failing);
        first.send(message(s, "k", "m", "t")).join();
        failing.awaitCount(1, Duration.ofSeconds(20));
        sub.close(Duration.ofSeconds(5)); // its retry row waits in the database

        JdbcTransport second = transport();
        Recorder rec = new Recorder();
        second.subscribe(request("g", s, 1), rec);
        Recorder.Received r = rec.awaitCount(1, Duration.ofSeconds(20)).get(0);
        assertThat(r.delivery().attempt()).isEqualTo(2);
        assertThat(r.delivery().message().header(MessageHeaders.ATTEMPTS)).isEqualTo("1");
        assertThat(r.body()).isEqualTo("m");
    }
}
