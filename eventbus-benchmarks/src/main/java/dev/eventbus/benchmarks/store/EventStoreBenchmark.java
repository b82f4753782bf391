package dev.eventbus.benchmarks.store;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.jdbc.JdbcEventStore;
import dev.eventbus.jdbc.SchemaMode;
import dev.eventbus.store.ExpectedVersion;
import dev.eventbus.store.RecordedEvent;
import org.axonframework.common.transaction.NoTransactionManager;
import org.axonframework.eventhandling.DomainEventMessage;
import org.axonframework.eventhandling.GenericDomainEventMessage;
import org.axonframework.eventsourcing.eventstore.DomainEventStream;
import org.axonframework.eventsourcing.eventstore.jdbc.EventSchema;
import org.axonframework.eventsourcing.eventstore.jdbc.JdbcEventStorageEngine;
import org.axonframework.eventsourcing.eventstore.jdbc.PostgresEventTableFactory;
import org.axonframework.serialization.json.JacksonSerializer;

import java.io.PrintWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * The event store on the local PostgreSQL against Axon Framework's {@code JdbcEventStorageEngine} (4.13) and plain
 * {@code INSERT}s of the same rows, in one run, alternated A B C per round (median of the rounds):
 * append throughput with 1 and 10 events per transaction from 4 threads (each on its own streams, exact expected
 * version), and loading a 1,000-event stream into objects.
 *
 * <p>Our append writes each event twice (the store row and its outbox row, so it is also published) and moves the
 * stream's version row; Axon's writes one row; the plain anchor writes one row per event with one batch INSERT.
 *
 * <pre>{@code
 * mvn -q -ntp -pl eventbus-benchmarks -am -DskipTests package
 * java -cp eventbus-benchmarks/target/eventbus-benchmarks-*-SNAPSHOT.jar dev.eventbus.benchmarks.store.EventStoreBenchmark [rounds]
 * }</pre>
 * {@code EVENTBUS_TEST_POSTGRES_URL} names another server.
 */
public final class EventStoreBenchmark {

    @EventType(name = "bench.deposited", stream = "bench")
    public record Deposited(String account, long cents, String note) {
    }

    private static final int THREADS = 4;
    /** The same 4 threads for every run, so each keeps its one connection (no connection per run). */
    private static final java.util.concurrent.ExecutorService WORKERS = java.util.concurrent.Executors
            .newFixedThreadPool(THREADS, r -> {
                Thread t = new Thread(r, "bench-writer");
                t.setDaemon(true);
                return t;
            });
    private static final ObjectMapper JSON = new ObjectMapper();

    interface Appender {
        /** Appends {@code events} to {@code stream}, which is at {@code version}, in one transaction. */
        void append(String stream, long version, List<Deposited> events) throws Exception;
    }

    interface Loader {
        int load(String stream) throws Exception;
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        String url = System.getenv().getOrDefault("EVENTBUS_TEST_POSTGRES_URL",
                "jdbc:postgresql://127.0.0.1:5432/test?user=postgres");
        url = url.startsWith("jdbc:") ? url : "jdbc:" + url;
        String p = "bench_es_" + UUID.randomUUID().toString().substring(0, 6) + "_";
        ThreadConnections ds = new ThreadConnections(url);
        try (EventBus bus = EventBus.builder().service("bench").eventType(Deposited.class).build()) {
            JdbcEventStore store = JdbcEventStore.builder(ds).bus(bus).tablePrefix(p).schemaMode(SchemaMode.ALWAYS)
                    .build();
            JdbcEventStorageEngine axon = axon(ds, p);
            try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
                s.execute("CREATE TABLE " + p + "plain (id BIGSERIAL PRIMARY KEY, stream_id VARCHAR(200) NOT NULL,"
                        + " version BIGINT NOT NULL, event_id VARCHAR(64) NOT NULL, event_type VARCHAR(255) NOT NULL,"
                        + " body BYTEA NOT NULL, created_at BIGINT NOT NULL, UNIQUE (stream_id, version))");
            }
            Appender ours = (stream, version, events) -> store.append(stream, ExpectedVersion.exactly(version), events);
            Appender axonAppender = (stream, version, events) -> {
                Connection c = ds.keptOpen();
                c.setAutoCommit(false);
                List<DomainEventMessage<?>> msgs = new ArrayList<>(events.size());
                for (int i = 0; i < events.size(); i++) {
                    msgs.add(new GenericDomainEventMessage<>("account", stream, version + i, events.get(i)));
                }
                axon.appendEvents(msgs);
                c.commit();
                c.setAutoCommit(true);
            };
            String plainSql = "INSERT INTO " + p + "plain (stream_id, version, event_id, event_type, body, created_at)"
                    + " VALUES (?, ?, ?, ?, ?, ?)";
            Appender plain = (stream, version, events) -> {
                Connection c = ds.keptOpen();
                c.setAutoCommit(false);
                try (PreparedStatement ps = c.prepareStatement(plainSql)) {
                    long now = System.currentTimeMillis();
                    for (int i = 0; i < events.size(); i++) {
                        ps.setString(1, stream);
                        ps.setLong(2, version + i + 1);
                        ps.setString(3, UUID.randomUUID().toString());
                        ps.setString(4, "bench.deposited");
                        ps.setBytes(5, JSON.writeValueAsBytes(events.get(i)));
                        ps.setLong(6, now);
                        ps.addBatch();
                    }
                    ps.executeBatch();
                }
                c.commit();
                c.setAutoCommit(true);
            };

            System.out.printf("event store benchmark on %s, %d threads, %d rounds (A B C alternated)%n", url, THREADS,
                    rounds);
            for (int perTx : new int[] {1, 10}) {
                int txPerThread = perTx == 1 ? 400 : 100;
                // warm-up, then the measured rounds
                run("warm-up", ours, perTx, txPerThread / 4, "w" + perTx);
                run("warm-up", axonAppender, perTx, txPerThread / 4, "w" + perTx);
                run("warm-up", plain, perTx, txPerThread / 4, "w" + perTx);
                double[][] rates = new double[3][rounds];
                for (int r = 0; r < rounds; r++) {
                    String tag = "r" + perTx + "_" + r;
                    rates[0][r] = run("ours", ours, perTx, txPerThread, tag);
                    rates[1][r] = run("axon", axonAppender, perTx, txPerThread, tag);
                    rates[2][r] = run("plain", plain, perTx, txPerThread, tag);
                }
                double o = median(rates[0]);
                double a = median(rates[1]);
                double pl = median(rates[2]);
                System.out.printf("append %2d event(s)/tx: ours %.0f ev/s, axon %.0f ev/s, plain INSERT %.0f ev/s;"
                        + " ours/axon = %.2fx, ours/plain = %.2fx%n", perTx, o, a, pl, o / a, o / pl);
            }

            // Loading one 1,000-event stream into objects.
            List<Deposited> thousand = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                thousand.add(new Deposited("load", i, "a note of some length for the payload"));
            }
            for (int i = 0; i < 1000; i += 100) {
                ours.append("load-1", i, thousand.subList(i, i + 100));
                axonAppender.append("load-1", i, thousand.subList(i, i + 100));
                plain.append("load-1", i, thousand.subList(i, i + 100));
            }
            Loader oursLoad = stream -> {
                int n = 0;
                for (RecordedEvent<?> e : store.read(stream, 1)) {
                    n += e.event() instanceof Deposited ? 1 : 0;
                }
                return n;
            };
            Loader axonLoad = stream -> {
                DomainEventStream s = axon.readEvents(stream);
                int n = 0;
                while (s.hasNext()) {
                    n += s.next().getPayload() instanceof Deposited ? 1 : 0;
                }
                return n;
            };
            Loader plainLoad = stream -> {
                Connection c = ds.keptOpen();
                int n = 0;
                try (PreparedStatement ps = c.prepareStatement("SELECT version, event_id, event_type, body FROM " + p
                        + "plain WHERE stream_id = ? ORDER BY version")) {
                    ps.setString(1, stream);
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            n += JSON.readValue(rs.getBytes(4), Deposited.class) != null ? 1 : 0;
                        }
                    }
                }
                return n;
            };
            for (Loader l : List.of(oursLoad, axonLoad, plainLoad)) {
                for (int i = 0; i < 10; i++) {
                    if (l.load("load-1") != 1000) {
                        throw new IllegalStateException("a loader did not read 1,000 events");
                    }
                }
            }
            double[][] loads = new double[3][rounds];
            List<Loader> loaders = List.of(oursLoad, axonLoad, plainLoad);
            for (int r = 0; r < rounds; r++) {
                for (int k = 0; k < 3; k++) {
                    long t0 = System.nanoTime();
                    for (int i = 0; i < 20; i++) {
                        loaders.get(k).load("load-1");
                    }
                    loads[k][r] = 20 / ((System.nanoTime() - t0) / 1e9);
                }
            }
            double o = median(loads[0]);
            double a = median(loads[1]);
            double pl = median(loads[2]);
            System.out.printf("load 1,000-event stream: ours %.1f loads/s, axon %.1f, plain SELECT+Jackson %.1f;"
                    + " ours/axon = %.2fx, ours/plain = %.2fx%n", o, a, pl, o / a, o / pl);
        } finally {
            try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
                for (String t : List.of("store_event", "store_stream", "store_head", "store_snapshot",
                        "store_projection", "outbox", "outbox_lease", "outbox_relay", "plain", "axon_events",
                        "axon_snapshots")) {
                    s.execute("DROP TABLE IF EXISTS " + p + t + " CASCADE");
                }
                s.execute("DROP VIEW IF EXISTS " + p + "outbox_status CASCADE");
            }
            ds.closeAll();
        }
    }

    private static JdbcEventStorageEngine axon(ThreadConnections ds, String p) throws SQLException {
        JacksonSerializer serializer = JacksonSerializer.defaultSerializer();
        EventSchema schema = EventSchema.builder().eventTable(p + "axon_events").snapshotTable(p + "axon_snapshots")
                .build();
        JdbcEventStorageEngine engine = JdbcEventStorageEngine.builder()
                .connectionProvider(ds::keptOpen)
                .transactionManager(NoTransactionManager.INSTANCE)
                .eventSerializer(serializer)
                .snapshotSerializer(serializer)
                .schema(schema)
                .build();
        engine.createSchema(PostgresEventTableFactory.INSTANCE);
        return engine;
    }

    /** Events per second over {@code txPerThread} transactions on each of the 4 threads. */
    private static double run(String name, Appender appender, int perTx, int txPerThread, String tag)
            throws InterruptedException {
        CountDownLatch start = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(THREADS);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int t = 0; t < THREADS; t++) {
            String stream = name + "-" + tag + "-" + t;
            WORKERS.execute(() -> {
                try {
                    List<Deposited> events = new ArrayList<>(perTx);
                    for (int i = 0; i < perTx; i++) {
                        events.add(new Deposited(stream, i, "a note of some length for the payload"));
                    }
                    start.await();
                    for (int i = 0; i < txPerThread; i++) {
                        appender.append(stream, (long) i * perTx, events);
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    done.countDown();
                }
            });
        }
        long t0 = System.nanoTime();
        start.countDown();
        done.await();
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (failure.get() != null) {
            throw new IllegalStateException(name + " failed", failure.get());
        }
        return THREADS * txPerThread * perTx / seconds;
    }

    private static double median(double[] xs) {
        double[] c = xs.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }

    /** One physical connection per thread, handed out as proxies whose close() keeps it open: a pool of sorts. */
    static final class ThreadConnections implements DataSource {
        private final String url;
        private final List<Connection> all = new ArrayList<>();
        private final ThreadLocal<Connection> mine = new ThreadLocal<>();

        ThreadConnections(String url) {
            this.url = url;
        }

        @Override
        public Connection getConnection() throws SQLException {
            return connection(true);
        }

        /** For Axon, which closes the connection inside appendEvents, before the harness commits. */
        Connection keptOpen() throws SQLException {
            return connection(false);
        }

        private Connection connection(boolean resetOnClose) throws SQLException {
            Connection c = mine.get();
            if (c == null) {
                c = DriverManager.getConnection(url);
                synchronized (all) {
                    all.add(c);
                }
                mine.set(c);
            }
            Connection physical = c;
            return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(),
                    new Class<?>[] {Connection.class}, (proxy, method, a) -> {
                        if (method.getName().equals("close")) {
                            if (resetOnClose && !physical.getAutoCommit()) {
                                physical.rollback(); // like a pool: nothing left open for the next borrower
                                physical.setAutoCommit(true);
                            }
                            return null;
                        }
                        try {
                            return method.invoke(physical, a);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
        }

        void closeAll() {
            synchronized (all) {
                for (Connection c : all) {
                    try {
                        c.close();
                    } catch (SQLException ignored) {
                        // closing anyway
                    }
                }
            }
        }

        @Override
        public Connection getConnection(String username, String password) throws SQLException {
            return getConnection();
        }

        @Override
        public PrintWriter getLogWriter() {
            return null;
        }

        @Override
        public void setLogWriter(PrintWriter out) {
        }

        @Override
        public void setLoginTimeout(int seconds) {
        }

        @Override
        public int getLoginTimeout() {
            return 0;
        }

        @Override
        public Logger getParentLogger() {
            return Logger.getGlobal();
        }

        @Override
        public <T> T unwrap(Class<T> iface) throws SQLException {
            throw new SQLException("not a wrapper");
        }

        @Override
        public boolean isWrapperFor(Class<?> iface) {
            return false;
        }
    }

    private EventStoreBenchmark() {
    }
}
