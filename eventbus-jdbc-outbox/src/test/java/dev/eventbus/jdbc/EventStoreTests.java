package dev.eventbus.jdbc;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.eventbus.EventBus;
import dev.eventbus.EventBusException;
import dev.eventbus.EventType;
import dev.eventbus.Upcaster;
import dev.eventbus.store.Aggregate;
import dev.eventbus.store.AggregateRepository;
import dev.eventbus.store.ConcurrencyException;
import dev.eventbus.store.ConcurrencyHarness;
import dev.eventbus.store.ExpectedVersion;
import dev.eventbus.store.ProjectionStatus;
import dev.eventbus.store.RecordedEvent;
import dev.eventbus.store.Snapshot;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import javax.sql.DataSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The JDBC event store and projector against a real database: expected-version semantics, one winner per version
 * under contention, the caller's transaction (events and outbox rows commit or roll back together), upcasting on
 * read, snapshots, and the gap-free global order under 8 concurrent writers with a projection and a raw reader
 * tailing. One subclass per database; each uses tables of its own and drops them afterwards.
 */
abstract class EventStoreTests {

    abstract DataSource dataSource();

    abstract String prefix();

    /**
     * Events per writer in the 8-writer test: 10k (the figure) unless a subclass lowers the default for a
     * server that takes minutes for it on the shared 2-core machine; {@code -Deventbus.test.store-events-per-writer}
     * sets it for every database.
     */
    int eventsPerWriter() {
        return Integer.getInteger("eventbus.test.store-events-per-writer", defaultEventsPerWriter());
    }

    int defaultEventsPerWriter() {
        return 10_000;
    }

    @EventType(name = "es.opened", stream = "accounts")
    record Opened(String owner) {
    }

    @EventType(name = "es.deposited", stream = "accounts")
    record Deposited(long cents) {
    }

    @EventType(name = "es.renamed", version = 1, stream = "accounts")
    record RenamedV1(String name) {
    }

    @EventType(name = "es.renamed", version = 2, stream = "accounts")
    record RenamedV2(String fullName) {
    }

    /** A type name longer than the event_type column (255): its append fails in the database, not as a conflict. */
    @EventType(name = "es.too-long.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", stream = "accounts")
    record TooLong(long cents) {
    }

    record Account(String owner, long balance) {
        static Account empty() {
            return new Account("", 0);
        }

        Account apply(Object e) {
            if (e instanceof Opened o) {
                return new Account(o.owner(), balance);
            }
            return e instanceof Deposited d ? new Account(owner, balance + d.cents()) : this;
        }
    }

    private final List<AutoCloseable> closeAfter = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closeAfter.size() - 1; i >= 0; i--) {
            closeAfter.get(i).close();
        }
        closeAfter.clear();
    }

    /** Each test gets tables of its own under the class's prefix, so tests never see each other's positions. */
    private String testPrefix;

    EventBus bus(EventBus.Builder b) {
        EventBus bus = b.service("store-it").eventType(Opened.class).eventType(Deposited.class)
                .eventType(ConcurrencyHarness.Payload.class).build();
        closeAfter.add(bus);
        return bus;
    }

    JdbcEventStore store(EventBus bus) {
        if (testPrefix == null) {
            testPrefix = prefix() + UUID.randomUUID().toString().substring(0, 8) + "_";
        }
        return JdbcEventStore.builder(dataSource()).bus(bus).tablePrefix(testPrefix).schemaMode(SchemaMode.ALWAYS)
                .build();
    }

    JdbcEventStore store() {
        return store(bus(EventBus.builder()));
    }

    JdbcEventStore store(EventBus bus, DataSource ds) {
        if (testPrefix == null) {
            testPrefix = prefix() + UUID.randomUUID().toString().substring(0, 8) + "_";
        }
        return JdbcEventStore.builder(ds).bus(bus).tablePrefix(testPrefix).schemaMode(SchemaMode.ALWAYS).build();
    }

    /** An append for {@link #oneBatch}. */
    interface Append {
        long run() throws Exception;
    }

    /**
     * Writes {@code appends} as one group-commit batch: a lone append takes the leadership and is held at its
     * getConnection() while the appends queue behind it, one after the other (so the batch holds them in this
     * order); then the leader goes on and hands the whole queue to the next batch. Returns each append's version,
     * or the exception it threw, in order.
     */
    List<Object> oneBatch(JdbcEventStore store, GatedDataSource gated, List<Append> appends) throws Exception {
        dev.eventbus.jdbc.internal.GroupCommit<?> gc = store.groupCommit();
        long requests0 = gc.requests();
        long batches0 = gc.batches();
        CountDownLatch release = new CountDownLatch(1);
        gated.holdNext(release);
        Thread leader = new Thread(() -> store.append("lead-" + UUID.randomUUID(), ExpectedVersion.noStream(),
                List.of(new Opened("leader"))), "leader");
        leader.start();
        gated.awaitHeld();
        Object[] outcomes = new Object[appends.size()];
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < appends.size(); i++) {
            int k = i;
            Thread t = new Thread(() -> {
                try {
                    outcomes[k] = appends.get(k).run();
                } catch (Throwable e) {
                    outcomes[k] = e;
                }
            }, "queued-" + i);
            t.start();
            threads.add(t);
            while (gc.queued() < i + 1) {
                Thread.onSpinWait();
            }
        }
        release.countDown();
        leader.join();
        for (Thread t : threads) {
            t.join();
        }
        // The lone leader's batch, then one batch of all the queued appends.
        assertThat(gc.requests() - requests0).isEqualTo(appends.size() + 1);
        assertThat(gc.batches() - batches0).isEqualTo(2);
        return java.util.Arrays.asList(outcomes);
    }

    static void assertConflict(Object outcome, String stream, long expected, long actual) {
        assertThat(outcome).isInstanceOfSatisfying(ConcurrencyException.class, e -> {
            assertThat(e.streamId()).isEqualTo(stream);
            assertThat(e.expected()).isEqualTo(expected < 0 ? ExpectedVersion.any() : expected == 0
                    ? ExpectedVersion.noStream() : ExpectedVersion.exactly(expected));
            assertThat(e.actual()).isEqualTo(actual);
        });
    }

    /** Positions 1..n, each event once, and the outbox holding exactly the stored events. */
    void assertGapFreeAndPublished(JdbcEventStore store, long n) throws SQLException {
        List<RecordedEvent<?>> all = store.readAll(1, (int) n + 10);
        assertThat(all).extracting(RecordedEvent::position)
                .containsExactlyElementsOf(java.util.stream.LongStream.rangeClosed(1, n).boxed().toList());
        assertThat(all).extracting(r -> r.envelope().id()).doesNotHaveDuplicates();
        assertThat(count("SELECT COUNT(*) FROM " + testPrefix + "outbox")).isEqualTo(n);
        assertThat(count("SELECT COUNT(*) FROM " + testPrefix + "outbox o JOIN " + testPrefix
                + "store_event e ON o.event_id = e.event_id AND o.msg_key = e.stream_id")).isEqualTo(n);
    }

    long count(String sql) throws SQLException {
        try (Connection c = dataSource().getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void appendsCheckTheExpectedVersionAndEveryEventIsAlsoInTheOutbox() throws Exception {
        JdbcEventStore store = store();
        assertThat(store.append("a-1", ExpectedVersion.noStream(), List.of(new Opened("ann")))).isEqualTo(1);
        assertThat(store.append("a-1", ExpectedVersion.exactly(1), List.of(new Deposited(5), new Deposited(7))))
                .isEqualTo(3);
        assertThat(store.append("a-1", ExpectedVersion.any(), List.of(new Deposited(1)))).isEqualTo(4);
        assertThat(store.append("a-2", ExpectedVersion.any(), List.of(new Opened("bob")))).isEqualTo(1);

        assertThatThrownBy(() -> store.append("a-1", ExpectedVersion.exactly(3), List.of(new Deposited(1))))
                .isInstanceOfSatisfying(ConcurrencyException.class, e -> {
                    assertThat(e.streamId()).isEqualTo("a-1");
                    assertThat(e.expected().version()).isEqualTo(3);
                    assertThat(e.actual()).isEqualTo(4);
                });
        assertThatThrownBy(() -> store.append("a-2", ExpectedVersion.noStream(), List.of(new Opened("x"))))
                .isInstanceOfSatisfying(ConcurrencyException.class, e -> assertThat(e.actual()).isEqualTo(1));
        assertThatThrownBy(() -> store.append("a-3", ExpectedVersion.exactly(1), List.of(new Opened("x"))))
                .isInstanceOfSatisfying(ConcurrencyException.class, e -> assertThat(e.actual()).isZero());

        assertThat(store.read("a-1", 1)).extracting(RecordedEvent::position).containsOnly(0L); // not sequenced yet
        assertThat(store.readAll(4, 10)).extracting(RecordedEvent::streamId).containsExactly("a-1", "a-2");
        List<RecordedEvent<?>> a1 = store.read("a-1", 1);
        assertThat(a1).extracting(r -> (Object) r.event())
                .containsExactly(new Opened("ann"), new Deposited(5), new Deposited(7), new Deposited(1));
        assertThat(a1).extracting(RecordedEvent::position).containsExactly(1L, 2L, 3L, 4L);
        assertThat(a1.get(0).envelope().subject()).isEqualTo("a-1");
        assertThat(a1.get(0).envelope().stream()).isEqualTo("accounts");
        assertThat(a1.get(0).envelope().time()).isNotNull();
        assertThat(store.read("a-1", 4)).hasSize(1);
        assertThat(store.headPosition()).isEqualTo(5);
        assertThat(store.streamVersion("a-1")).isEqualTo(4);
        assertThat(store.streamVersion("a-3")).isZero();

        // Published: the outbox holds exactly the appended events, same ids, keyed by stream id.
        assertThat(count("SELECT COUNT(*) FROM " + testPrefix + "outbox")).isEqualTo(5);
        assertThat(count("SELECT COUNT(*) FROM " + testPrefix + "outbox o JOIN " + testPrefix
                + "store_event e ON o.event_id = e.event_id AND o.msg_key = e.stream_id")).isEqualTo(5);
    }

    /**
     * The outbox rows an append writes (on PostgreSQL by the store's own one-statement append) are the rows
     * {@link Outbox#publishMessages} would write for the same messages, in version order, so the relay publishes
     * exactly what was stored.
     */
    @Test
    void theOutboxRowsOfAnAppendAreTheRowsTheOutboxWouldWrite() throws Exception {
        JdbcEventStore store = store();
        store.append("o-1", ExpectedVersion.noStream(), List.of(new Opened("ann"), new Deposited(1)));
        store.append("o-1", ExpectedVersion.exactly(2), List.of(new Deposited(2)));
        store.append("o-1", ExpectedVersion.any(), List.of(new Deposited(3), new Deposited(4), new Deposited(5)));
        String o = testPrefix + "outbox";
        String e = testPrefix + "store_event";
        assertThat(count("SELECT COUNT(*) FROM " + o)).isEqualTo(6);
        assertThat(count("SELECT COUNT(*) FROM " + o + " x JOIN " + e + " y ON x.event_id = y.event_id"
                + " AND x.msg_key = y.stream_id AND x.stream = y.bus_stream AND x.event_type = y.event_type"
                + " AND x.headers = y.headers AND x.body = y.body"
                + " WHERE x.status = 'pending' AND x.priority = 0 AND x.deliver_at IS NULL AND x.attempts = 0"
                + " AND x.key_hash = " + dev.eventbus.jdbc.internal.Partitioner.hash("o-1"))).isEqualTo(6);
        // Outbox ids follow the versions (the relay publishes a key's rows in id order).
        List<Long> versions = new ArrayList<>();
        try (Connection c = dataSource().getConnection(); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT y.version FROM " + o + " x JOIN " + e
                     + " y ON x.event_id = y.event_id ORDER BY x.id")) {
            while (rs.next()) {
                versions.add(rs.getLong(1));
            }
        }
        assertThat(versions).containsExactly(1L, 2L, 3L, 4L, 5L, 6L);
        // The same columns as a message published through the outbox itself.
        EventBus bus = bus(EventBus.builder());
        dev.eventbus.spi.TransportMessage m = bus.messageFor(new Deposited(9),
                dev.eventbus.PublishOptions.builder().key("o-1").build());
        try (Connection c = dataSource().getConnection()) {
            c.setAutoCommit(false);
            store.outbox().publish(m, c);
            c.commit();
        }
        assertThat(count("SELECT COUNT(*) FROM " + o + " x JOIN " + o + " y ON x.key_hash = y.key_hash"
                + " AND x.status = y.status AND x.stream = y.stream AND x.msg_key = y.msg_key"
                + " AND x.priority = y.priority AND x.attempts = y.attempts AND x.deliver_at IS NULL"
                + " AND y.deliver_at IS NULL WHERE x.event_id = '" + m.id() + "' AND y.event_id <> x.event_id"))
                .isEqualTo(6);
    }

    /**
     * Appends of more events than one statement takes ({@code OneStatementAppend.MAX_EVENTS} on PostgreSQL) go
     * through the statement-per-table path with the same guarantees.
     */
    @Test
    void aLargeAppendKeepsEveryGuarantee() throws Exception {
        JdbcEventStore store = store();
        List<Object> many = new ArrayList<>();
        for (int i = 0; i < 600; i++) {
            many.add(new Deposited(i));
        }
        assertThat(store.append("big", ExpectedVersion.noStream(), many)).isEqualTo(600);
        assertThatThrownBy(() -> store.append("big", ExpectedVersion.exactly(599), many))
                .isInstanceOfSatisfying(ConcurrencyException.class, e -> assertThat(e.actual()).isEqualTo(600));
        assertThat(store.append("big", ExpectedVersion.exactly(600), many)).isEqualTo(1200);
        assertThat(store.append("big", ExpectedVersion.any(), many)).isEqualTo(1800);
        assertThat(store.read("big", 1)).extracting(RecordedEvent::version)
                .containsExactlyElementsOf(java.util.stream.LongStream.rangeClosed(1, 1800).boxed().toList());
        assertThat(count("SELECT COUNT(*) FROM " + testPrefix + "outbox")).isEqualTo(1800);
        assertThat(store.readAll(1, 2000)).extracting(RecordedEvent::position)
                .containsExactlyElementsOf(java.util.stream.LongStream.rangeClosed(1, 1800).boxed().toList());
    }

    /**
     * A conflict inside the caller's transaction writes nothing, names the actual version, and (the version check
     * being a conditional write, not a failed statement) leaves the transaction usable until the caller rolls back.
     */
    @Test
    void aConflictInTheCallersTransactionWritesNothingAndNamesTheActualVersion() throws Exception {
        JdbcEventStore store = store();
        store.append("c-1", ExpectedVersion.noStream(), List.of(new Opened("ann"), new Deposited(1)));
        try (Connection c = dataSource().getConnection()) {
            c.setAutoCommit(false);
            for (ExpectedVersion wrong : List.of(ExpectedVersion.exactly(1), ExpectedVersion.exactly(3),
                    ExpectedVersion.noStream())) {
                assertThatThrownBy(() -> store.append("c-1", wrong, List.of(new Deposited(5)), c))
                        .isInstanceOfSatisfying(ConcurrencyException.class, e -> {
                            assertThat(e.streamId()).isEqualTo("c-1");
                            assertThat(e.expected()).isEqualTo(wrong);
                            assertThat(e.actual()).isEqualTo(2);
                        });
            }
            assertThat(store.read("c-1", 1, c)).hasSize(2);
            c.rollback();
        }
        assertThat(count("SELECT COUNT(*) FROM " + testPrefix + "outbox")).isEqualTo(2);
        assertThat(store.streamVersion("c-1")).isEqualTo(2);
    }

    /**
     * The unique key on (stream, version) backs the stream row up: when the row is out of step with the events (here
     * deleted by hand), an append that would duplicate a version fails with the concurrency exception naming the
     * highest stored version, and writes nothing.
     */
    @Test
    void theUniqueKeyCatchesAConflictTheStreamRowMissesAndNamesTheStoredVersion() throws Exception {
        JdbcEventStore store = store();
        store.append("u-1", ExpectedVersion.noStream(), List.of(new Opened("ann"), new Deposited(1),
                new Deposited(2)));
        try (Connection c = dataSource().getConnection(); Statement st = c.createStatement()) {
            if (!c.getAutoCommit()) {
                c.setAutoCommit(true);
            }
            st.executeUpdate("DELETE FROM " + testPrefix + "store_stream WHERE stream_id = 'u-1'");
        }
        assertThatThrownBy(() -> store.append("u-1", ExpectedVersion.noStream(), List.of(new Opened("bob"))))
                .isInstanceOfSatisfying(ConcurrencyException.class, e -> {
                    assertThat(e.streamId()).isEqualTo("u-1");
                    assertThat(e.expected()).isEqualTo(ExpectedVersion.noStream());
                    assertThat(e.actual()).isEqualTo(3);
                });
        assertThatThrownBy(() -> store.append("u-1", ExpectedVersion.any(), List.of(new Deposited(3),
                new Deposited(4))))
                .isInstanceOfSatisfying(ConcurrencyException.class, e -> assertThat(e.actual()).isEqualTo(3));
        assertThat(store.read("u-1", 1)).hasSize(3);
        assertThat(count("SELECT COUNT(*) FROM " + testPrefix + "outbox")).isEqualTo(3);
        assertThat(store.streamVersion("u-1")).isZero(); // the failed appends left no stream row either
    }

    @Test
    void anAppendJoinsTheCallersTransaction() throws Exception {
        JdbcEventStore store = store();
        store.append("t-0", ExpectedVersion.noStream(), List.of(new Opened("first")));
        try (Connection c = dataSource().getConnection()) {
            c.setAutoCommit(false);
            store.append("t-1", ExpectedVersion.noStream(), List.of(new Opened("zed")), c);
            store.append("t-2", ExpectedVersion.noStream(), List.of(new Opened("amy")), c);
            c.rollback();
            assertThat(store.read("t-1", 1)).isEmpty();
            assertThat(store.headPosition()).isEqualTo(1);
            assertThat(count("SELECT COUNT(*) FROM " + testPrefix + "outbox")).isEqualTo(1);

            store.append("t-1", ExpectedVersion.noStream(), List.of(new Opened("zed")), c);
            c.commit();
        }
        // The rolled-back events never took a position: no gap.
        assertThat(store.readAll(1, 10)).extracting(RecordedEvent::position).containsExactly(1L, 2L);
        assertThat(count("SELECT COUNT(*) FROM " + testPrefix + "outbox")).isEqualTo(2);
        try (Connection c = dataSource().getConnection()) {
            c.setAutoCommit(true);
            assertThatThrownBy(() -> store.append("t-3", ExpectedVersion.any(), List.of(new Opened("x")), c))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("auto-commit");
        }
    }

    /**
     * Group commit: appends queued behind a busy leader are written as one batch, each still all-or-nothing by
     * itself. A conflicting append is refused alone (naming the version it met), the others commit, and a stream's
     * appends within the batch behave exactly as if they ran one after the other.
     */
    @Test
    void aBatchRefusesItsConflictingAppendsAloneAndRunsAStreamsAppendsInOrder() throws Exception {
        GatedDataSource gated = new GatedDataSource(dataSource());
        JdbcEventStore store = store(bus(EventBus.builder()), gated);
        for (String s : List.of("b-1", "b-2", "b-3")) {
            store.append(s, ExpectedVersion.noStream(), List.of(new Opened(s)));
        }
        List<Object> out = oneBatch(store, gated, List.of(
                () -> store.append("b-1", ExpectedVersion.exactly(1), List.of(new Deposited(1))),
                () -> store.append("b-2", ExpectedVersion.exactly(5), List.of(new Deposited(2))),
                () -> store.append("b-3", ExpectedVersion.exactly(1), List.of(new Deposited(3))),
                () -> store.append("b-1", ExpectedVersion.exactly(2), List.of(new Deposited(4), new Deposited(5))),
                () -> store.append("b-1", ExpectedVersion.exactly(2), List.of(new Deposited(6))),
                () -> store.append("b-4", ExpectedVersion.noStream(), List.of(new Opened("d"), new Deposited(7))),
                () -> store.append("b-3", ExpectedVersion.noStream(), List.of(new Opened("again"))),
                () -> store.append("b-5", ExpectedVersion.any(), List.of(new Deposited(8))),
                () -> store.append("b-5", ExpectedVersion.any(), List.of(new Deposited(9), new Deposited(10)))));
        assertThat(out.get(0)).isEqualTo(2L);
        assertConflict(out.get(1), "b-2", 5, 1);
        assertThat(out.get(2)).isEqualTo(2L);
        assertThat(out.get(3)).isEqualTo(4L);
        assertConflict(out.get(4), "b-1", 2, 4); // after the append before it in the batch, as if sequential
        assertThat(out.get(5)).isEqualTo(2L);
        assertConflict(out.get(6), "b-3", 0, 2);
        assertThat(out.get(7)).isEqualTo(1L);
        assertThat(out.get(8)).isEqualTo(3L);

        assertThat(store.read("b-1", 1)).extracting(r -> (Object) r.event()).containsExactly(new Opened("b-1"),
                new Deposited(1), new Deposited(4), new Deposited(5));
        assertThat(store.read("b-2", 1)).hasSize(1);
        assertThat(store.read("b-3", 1)).extracting(r -> (Object) r.event()).containsExactly(new Opened("b-3"),
                new Deposited(3));
        assertThat(store.read("b-5", 1)).extracting(RecordedEvent::version).containsExactly(1L, 2L, 3L);
        assertThat(store.streamVersion("b-4")).isEqualTo(2);
        // 3 set-up events, the leader's, and 9 from the batch.
        assertGapFreeAndPublished(store, 13);
    }

    /**
     * An append that fails in the database for another reason than a conflict (here a type name longer than its
     * column) fails alone: the batch is written again one append at a time, and its neighbours commit.
     */
    @Test
    void aBatchWithAnAppendTheDatabaseRejectsStillCommitsTheOthers() throws Exception {
        GatedDataSource gated = new GatedDataSource(dataSource());
        JdbcEventStore store = store(bus(EventBus.builder().eventType(TooLong.class)), gated);
        store.append("f-1", ExpectedVersion.noStream(), List.of(new Opened("f")));
        List<Object> out = oneBatch(store, gated, List.of(
                () -> store.append("f-1", ExpectedVersion.exactly(1), List.of(new Deposited(1))),
                () -> store.append("f-2", ExpectedVersion.noStream(), List.of(new Opened("x"), new TooLong(2))),
                () -> store.append("f-3", ExpectedVersion.noStream(), List.of(new Opened("y"))),
                () -> store.append("f-1", ExpectedVersion.exactly(2), List.of(new Deposited(3))),
                () -> store.append("f-2", ExpectedVersion.any(), List.of(new Deposited(4)))));
        assertThat(out.get(0)).isEqualTo(2L);
        assertThat(out.get(1)).isInstanceOf(EventBusException.class).isNotInstanceOf(ConcurrencyException.class)
                .extracting(e -> ((Throwable) e).getMessage()).asString().contains("f-2");
        assertThat(out.get(2)).isEqualTo(1L);
        assertThat(out.get(3)).isEqualTo(3L);
        assertThat(out.get(4)).isEqualTo(1L); // the failed append left no stream row behind
        assertThat(store.read("f-2", 1)).extracting(r -> (Object) r.event()).containsExactly(new Deposited(4));
        assertThat(store.read("f-1", 1)).extracting(RecordedEvent::version).containsExactly(1L, 2L, 3L);
        assertGapFreeAndPublished(store, 6); // the set-up event, the leader's, 4 from the batch
    }

    /**
     * Many threads with group commit on: each appends to a stream of its own (every append must win) and races the
     * others on two shared streams, while a reader tails by position. Every event is stored and published exactly
     * once, versions are contiguous, only the losers of a race get a conflict, the reader sees every position in
     * order without a gap, and appends did share commits.
     */
    @Test
    void manyThreadsShareCommitsAndEveryAppendIsStoredOnceOrRefused() throws Exception {
        JdbcEventStore store = store();
        int threads = 8;
        int perThread = 30;
        Map<String, Map<Long, Integer>> winners = new java.util.concurrent.ConcurrentHashMap<>();
        AtomicLong conflicts = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int id = t;
            Thread th = new Thread(() -> {
                try {
                    start.await();
                    for (int i = 0; i < perThread; i++) {
                        assertThat(store.append("own-" + id, ExpectedVersion.exactly(i),
                                List.of(new ConcurrencyHarness.Payload(id, i)))).isEqualTo(i + 1);
                        String hot = "hot-" + (i % 2);
                        long v = store.streamVersion(hot);
                        try {
                            long won = store.append(hot, ExpectedVersion.exactly(v),
                                    List.of(new ConcurrencyHarness.Payload(id, v)));
                            assertThat(won).isEqualTo(v + 1);
                            assertThat(winners.computeIfAbsent(hot, x -> new java.util.concurrent.ConcurrentHashMap<>())
                                    .putIfAbsent(won, id)).isNull();
                        } catch (ConcurrencyException e) {
                            assertThat(e.streamId()).isEqualTo(hot);
                            assertThat(e.actual()).isGreaterThan(v);
                            conflicts.incrementAndGet();
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "writer-" + t);
            th.start();
            ts.add(th);
        }
        // A reader tails by position while the batches commit: it must never find a position missing.
        AtomicBoolean writing = new AtomicBoolean(true);
        AtomicLong tailed = new AtomicLong();
        Thread tail = new Thread(() -> {
            try {
                long next = 1;
                while (true) {
                    boolean last = !writing.get();
                    List<RecordedEvent<?>> got = store.readAll(next, 100);
                    for (RecordedEvent<?> e : got) {
                        assertThat(e.position()).isEqualTo(next);
                        next++;
                    }
                    if (last && got.isEmpty()) {
                        break;
                    }
                }
                tailed.set(next - 1);
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
        }, "tail");
        tail.start();
        start.countDown();
        for (Thread th : ts) {
            th.join();
        }
        writing.set(false);
        tail.join();
        assertThat(failure.get()).isNull();
        long hotEvents = 0;
        for (String hot : List.of("hot-0", "hot-1")) {
            Map<Long, Integer> won = winners.getOrDefault(hot, Map.of());
            List<RecordedEvent<?>> events = store.read(hot, 1);
            assertThat(events).extracting(RecordedEvent::version)
                    .containsExactlyElementsOf(java.util.stream.LongStream.rangeClosed(1, won.size()).boxed().toList());
            for (RecordedEvent<?> e : events) {
                ConcurrencyHarness.Payload p = (ConcurrencyHarness.Payload) e.event();
                assertThat(p.writer()).isEqualTo(won.get(e.version()));
                assertThat(p.round()).isEqualTo(e.version() - 1);
            }
            hotEvents += events.size();
        }
        assertThat(hotEvents + conflicts.get()).isEqualTo((long) threads * perThread);
        for (int t = 0; t < threads; t++) {
            assertThat(store.read("own-" + t, 1)).extracting(e -> ((ConcurrencyHarness.Payload) e.event()).round())
                    .containsExactlyElementsOf(java.util.stream.LongStream.range(0, perThread).boxed().toList());
        }
        assertGapFreeAndPublished(store, (long) threads * perThread + hotEvents);
        assertThat(tailed.get()).isEqualTo((long) threads * perThread + hotEvents);
        dev.eventbus.jdbc.internal.GroupCommit<?> gc = store.groupCommit();
        assertThat(gc.requests()).isEqualTo((long) threads * perThread * 2);
        assertThat(gc.batches()).isLessThan(gc.requests()); // some appends shared a commit
    }

    @Test
    void manyThreadsAppendingToOneStreamHaveExactlyOneWinnerPerVersion() throws Exception {
        JdbcEventStore store = store();
        int threads = 8;
        int rounds = 40;
        ConcurrencyHarness.Result r = ConcurrencyHarness.race(store, "hot", threads, rounds);
        assertThat(r.winners()).hasSize(rounds);
        assertThat(r.losers()).isEqualTo((long) threads * rounds - rounds);
        List<RecordedEvent<?>> events = store.read("hot", 1);
        assertThat(events).hasSize(rounds);
        for (RecordedEvent<?> e : events) {
            ConcurrencyHarness.Payload p = (ConcurrencyHarness.Payload) e.event();
            assertThat(p.round()).isEqualTo(e.version() - 1);
            assertThat(r.winners().get(e.version())).isEqualTo(p.writer());
        }
        assertThat(store.headPosition()).isEqualTo(rounds);
    }

    /** With group commit off every append commits alone, with the same guarantees. */
    @Test
    void withoutGroupCommitTheRaceHasOneWinnerPerVersionToo() throws Exception {
        store(); // the test's prefix and tables
        JdbcEventStore store = JdbcEventStore.builder(dataSource()).bus(bus(EventBus.builder())).tablePrefix(testPrefix)
                .schemaMode(SchemaMode.ALWAYS).groupCommit(false).build();
        assertThat(store.groupCommit()).isNull();
        ConcurrencyHarness.Result r = ConcurrencyHarness.race(store, "solo", 4, 20);
        assertThat(r.winners()).hasSize(20);
        assertThat(r.losers()).isEqualTo(4L * 20 - 20);
        assertGapFreeAndPublished(store, 20);
    }

    @Test
    void upcastersApplyWhenANewerReleaseReadsOldEvents() {
        JdbcEventStore old = store(bus(EventBus.builder().eventType(RenamedV1.class)));
        old.append("r-1", ExpectedVersion.noStream(), List.of(new RenamedV1("Ann Lee")));
        JdbcEventStore current = store(bus(EventBus.builder().eventType(RenamedV2.class)
                .upcaster(Upcaster.of("es.renamed", 1, json -> (ObjectNode) json.put("fullName",
                        json.remove("name").asText())))));
        RecordedEvent<?> e = current.read("r-1", 1).get(0);
        assertThat(e.event()).isEqualTo(new RenamedV2("Ann Lee"));
        assertThat(e.envelope().version()).isEqualTo(2);
    }

    @Test
    void aggregatesSaveWithTheLoadedVersionAndSnapshotsShortenLoads() {
        JdbcEventStore store = store();
        AggregateRepository<Account> repo = AggregateRepository.builder(store, Account::empty, Account::apply)
                .snapshotEvery(2, Account.class).build();
        Aggregate<Account> a = repo.save(repo.load("acc-1"), new Opened("ann"), new Deposited(10));
        assertThat(store.loadSnapshot("acc-1", Account.class)).get()
                .isEqualTo(new Snapshot<>("acc-1", 2, new Account("ann", 10)));
        a = repo.save(a, new Deposited(5));
        Aggregate<Account> stale = repo.load("acc-1");
        repo.save(repo.load("acc-1"), new Deposited(1));
        assertThatThrownBy(() -> repo.save(stale, new Deposited(2))).isInstanceOf(ConcurrencyException.class);
        store.saveSnapshot(new Snapshot<>("acc-1", 1, new Account("older", 0))); // older: ignored
        assertThat(store.loadSnapshot("acc-1", Account.class).orElseThrow().version()).isEqualTo(4);
        assertThat(repo.load("acc-1")).isEqualTo(new Aggregate<>("acc-1", new Account("ann", 16), 4));
    }

    @Test
    void missingTablesFailAtBuildWithTheDdl() {
        EventBus bus = bus(EventBus.builder());
        assertThatThrownBy(() -> JdbcEventStore.builder(dataSource()).bus(bus).tablePrefix(prefix() + "none_")
                .schemaMode(SchemaMode.NEVER).build())
                .isInstanceOf(EventBusException.class)
                .hasMessageContaining(prefix() + "none_store_event does not exist")
                .hasMessageContaining("CREATE TABLE IF NOT EXISTS " + prefix() + "none_store_event");
    }

    @Test
    void aFailingProjectionRollsItsBatchBackAndResumesExactlyOnce() throws Exception {
        JdbcEventStore store = store();
        for (int i = 0; i < 30; i++) {
            store.append("p-" + (i % 3), ExpectedVersion.any(), List.of(new Deposited(i)));
        }
        AtomicLong failAt = new AtomicLong(17);
        BalanceProjection projection = new BalanceProjection("failing_" + UUID.randomUUID().toString().substring(0, 6),
                testPrefix, failAt);
        JdbcProjector projector = JdbcProjector.builder(store, projection).batchSize(10).build();
        assertThatThrownBy(projector::catchUp).hasMessageContaining("boom at 17");
        assertThat(projector.status().position()).isEqualTo(10);
        failAt.set(-1);
        assertThat(projector.catchUp()).isEqualTo(20);
        ProjectionStatus s = projector.status();
        assertThat(s.position()).isEqualTo(30);
        assertThat(s.lag()).isZero();
        assertThat(projection.balances(dataSource(), projector.readModel()))
                .isEqualTo(Map.of("p-0", 135L, "p-1", 145L, "p-2", 155L));
        assertThat(projection.handledPositions(dataSource(), projector.readModel())).isEqualTo(30);
    }

    /**
     * The proof of the global order: 8 writers append concurrently (10 events per transaction) while a projection
     * and a raw reader tail by position. Neither may ever find a position missing (the reader would see the next
     * one first); the projection sees every event exactly once in position order; a rebuild gives the same model.
     */
    @Test
    @Timeout(value = 30, unit = java.util.concurrent.TimeUnit.MINUTES) // 8 x 10k and a rebuild on a loaded server
    void eightWritersAndATailingProjectionSeeEveryEventOnceInPositionOrder() throws Exception {
        JdbcEventStore store = store();
        int writers = 8;
        int perWriter = eventsPerWriter();
        int perAppend = 10;
        long total = (long) writers * perWriter;
        BalanceProjection projection = new BalanceProjection("balances_" + UUID.randomUUID().toString().substring(0, 6),
                testPrefix, new AtomicLong(-1));
        JdbcProjector projector = JdbcProjector.builder(store, projection).batchSize(1000).build();
        closeAfter.add(projector);
        projector.start(java.time.Duration.ofMillis(2));

        AtomicReference<String> readerProblem = new AtomicReference<>();
        AtomicBoolean writing = new AtomicBoolean(true);
        AtomicLong readerPosition = new AtomicLong();
        AtomicLong readerDeadline = new AtomicLong(Long.MAX_VALUE);
        Thread reader = new Thread(() -> {
            long next = 1;
            try {
                while (next <= total) {
                    List<RecordedEvent<?>> batch = store.readAll(next, 2000);
                    for (RecordedEvent<?> e : batch) {
                        if (e.position() != next) {
                            readerProblem.compareAndSet(null, "expected position " + next + ", read " + e.position());
                            return;
                        }
                        next++;
                    }
                    readerPosition.set(next - 1);
                    if (batch.size() < 2000) {
                        Thread.sleep(2);
                    }
                    if (batch.isEmpty() && !writing.get() && System.currentTimeMillis() > readerDeadline.get()) {
                        readerProblem.compareAndSet(null, "stuck at position " + (next - 1) + " of " + total
                                + " for 2 minutes after the writers finished");
                        return;
                    }
                }
            } catch (RuntimeException | InterruptedException e) {
                readerProblem.compareAndSet(null, e.toString());
            }
        }, "tailing-reader");
        reader.start();

        long started = System.nanoTime();
        CountDownLatch done = new CountDownLatch(writers);
        AtomicReference<Throwable> writerProblem = new AtomicReference<>();
        for (int w = 0; w < writers; w++) {
            String stream = "acct-" + w;
            new Thread(() -> {
                try {
                    List<Object> events = new ArrayList<>(perAppend);
                    for (int i = 0; i < perWriter; i += perAppend) {
                        events.clear();
                        for (int k = 0; k < perAppend; k++) {
                            events.add(new Deposited(i + k));
                        }
                        store.append(stream, ExpectedVersion.exactly(i), events);
                    }
                } catch (Throwable e) {
                    writerProblem.compareAndSet(null, e);
                } finally {
                    done.countDown();
                }
            }, "writer-" + w).start();
        }
        done.await();
        readerDeadline.set(System.currentTimeMillis() + 120_000);
        writing.set(false);
        long writeMillis = (System.nanoTime() - started) / 1_000_000;
        assertThat(writerProblem.get()).isNull();
        reader.join(120_000);
        assertThat(readerProblem.get()).isNull();
        assertThat(readerPosition.get()).isEqualTo(total);

        // The projection (four statements per event) may still be far behind fast writers on a loaded machine: wait
        // as long as it makes progress, and give up only when it stands still for 2 minutes.
        long deadline = System.currentTimeMillis() + 120_000;
        long seen = -1;
        ProjectionStatus progress;
        while ((progress = projector.status()).lag() > 0 && System.currentTimeMillis() < deadline) {
            if (progress.position() != seen) {
                seen = progress.position();
                deadline = System.currentTimeMillis() + 120_000;
            }
            Thread.sleep(20);
        }
        projector.close();
        System.out.printf("%s: %d events by %d writers in %d ms; tailing projection caught up after %d ms%n",
                getClass().getSimpleName(), total, writers, writeMillis, (System.nanoTime() - started) / 1_000_000);
        ProjectionStatus status = projector.status();
        assertThat(status.position()).isEqualTo(total);
        assertThat(status.headPosition()).isEqualTo(total);

        JdbcProjection.ReadModel first = projector.readModel();
        // Exactly once, in order: the projection's handled table has one row per position (primary key), and each
        // row's sequence number (rows handled before it, counted by the projection itself) is its position - 1.
        assertThat(projection.handledPositions(dataSource(), first)).isEqualTo(total);
        assertThat(count("SELECT COUNT(*) FROM " + first.table(projection.base + "handled")
                + " WHERE seq <> position - 1")).isZero();
        long expectedBalance = (long) perWriter * (perWriter - 1) / 2;
        Map<String, Long> balances = projection.balances(dataSource(), first);
        assertThat(balances).hasSize(writers).allSatisfy((k, v) -> assertThat(v).isEqualTo(expectedBalance));

        JdbcProjection.ReadModel second = projector.rebuild();
        assertThat(second.generation()).isEqualTo(first.generation() + 1);
        assertThat(projector.readModel()).isEqualTo(second);
        assertThat(projection.balances(dataSource(), second)).isEqualTo(balances);
        assertThat(projection.handledPositions(dataSource(), second)).isEqualTo(total);
        assertThat(count("SELECT COUNT(*) FROM " + first.table(projection.base + "handled") + " a JOIN "
                + second.table(projection.base + "handled") + " b ON a.position = b.position AND a.seq = b.seq"
                + " AND a.stream_id = b.stream_id AND a.version = b.version")).isEqualTo(total);
        assertThat(projector.status().rebuilding()).isFalse();
    }

    /**
     * A read model of balances per stream plus one row per handled event (position as primary key, so a second
     * application of an event fails the batch), with the number of events handled before it.
     */
    static final class BalanceProjection implements JdbcProjection {
        final String name;
        final String base;
        final AtomicLong failAt;

        BalanceProjection(String name, String prefix, AtomicLong failAt) {
            this.name = name;
            this.base = prefix + name.substring(name.indexOf('_') + 1) + "_";
            this.failAt = failAt;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public void createReadModel(Connection c, ReadModel m) throws SQLException {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE " + m.table(base + "balance")
                        + " (stream_id VARCHAR(200) NOT NULL PRIMARY KEY, cents BIGINT NOT NULL)");
                s.execute("CREATE TABLE " + m.table(base + "handled") + " (position BIGINT NOT NULL PRIMARY KEY,"
                        + " seq BIGINT NOT NULL, stream_id VARCHAR(200) NOT NULL, version BIGINT NOT NULL)");
                s.execute("CREATE TABLE " + m.table(base + "counter") + " (n BIGINT NOT NULL)");
                s.execute("INSERT INTO " + m.table(base + "counter") + " (n) VALUES (0)");
            }
        }

        @Override
        public void apply(RecordedEvent<?> event, Connection c, ReadModel m) throws SQLException {
            if (event.position() == failAt.get()) {
                throw new IllegalStateException("boom at " + event.position());
            }
            long seq;
            try (PreparedStatement ps = c.prepareStatement("SELECT n FROM " + m.table(base + "counter"))) {
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    seq = rs.getLong(1);
                }
            }
            try (PreparedStatement ps = c.prepareStatement("UPDATE " + m.table(base + "counter") + " SET n = n + 1")) {
                ps.executeUpdate();
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + m.table(base + "handled")
                    + " (position, seq, stream_id, version) VALUES (?, ?, ?, ?)")) {
                ps.setLong(1, event.position());
                ps.setLong(2, seq);
                ps.setString(3, event.streamId());
                ps.setLong(4, event.version());
                ps.executeUpdate();
            }
            if (event.event() instanceof Deposited d) {
                try (PreparedStatement ps = c.prepareStatement("UPDATE " + m.table(base + "balance")
                        + " SET cents = cents + ? WHERE stream_id = ?")) {
                    ps.setLong(1, d.cents());
                    ps.setString(2, event.streamId());
                    if (ps.executeUpdate() == 0) {
                        try (PreparedStatement ins = c.prepareStatement("INSERT INTO " + m.table(base + "balance")
                                + " (stream_id, cents) VALUES (?, ?)")) {
                            ins.setString(1, event.streamId());
                            ins.setLong(2, d.cents());
                            ins.executeUpdate();
                        }
                    }
                }
            }
        }

        @Override
        public void dropReadModel(Connection c, ReadModel m) throws SQLException {
            try (Statement s = c.createStatement()) {
                s.execute("DROP TABLE IF EXISTS " + m.table(base + "balance"));
                s.execute("DROP TABLE IF EXISTS " + m.table(base + "handled"));
                s.execute("DROP TABLE IF EXISTS " + m.table(base + "counter"));
            }
        }

        Map<String, Long> balances(DataSource ds, ReadModel m) throws SQLException {
            Map<String, Long> out = new TreeMap<>();
            try (Connection c = ds.getConnection(); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT stream_id, cents FROM " + m.table(base + "balance"))) {
                while (rs.next()) {
                    out.put(rs.getString(1), rs.getLong(2));
                }
            }
            return out;
        }

        long handledPositions(DataSource ds, ReadModel m) throws SQLException {
            try (Connection c = ds.getConnection(); Statement s = c.createStatement();
                 ResultSet rs = s.executeQuery("SELECT COUNT(*), MIN(position), MAX(position) FROM "
                         + m.table(base + "handled"))) {
                rs.next();
                long n = rs.getLong(1);
                if (n > 0 && (rs.getLong(2) != 1 || rs.getLong(3) != n)) {
                    throw new AssertionError("handled positions are not 1.." + n + ": " + rs.getLong(2) + ".."
                            + rs.getLong(3));
                }
                return n;
            }
        }
    }
}
