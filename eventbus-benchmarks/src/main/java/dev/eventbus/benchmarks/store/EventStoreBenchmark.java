package dev.eventbus.benchmarks.store;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.PublishOptions;
import dev.eventbus.jdbc.JdbcEventStore;
import dev.eventbus.jdbc.Outbox;
import dev.eventbus.jdbc.internal.GroupCommit;
import dev.eventbus.jdbc.internal.HeaderCodec;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;
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
import java.lang.management.ManagementFactory;
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
 * {@code INSERT}s of the same rows, in one run, the order rotated each round (every round printed, then the
 * medians): append throughput with 1 and 10 events per transaction from 4 threads (each on its own streams, exact
 * expected version), and loading a 1,000-event stream into objects. Each append run also reports the CPU time per
 * event (this JVM plus the 4 PostgreSQL backends, read from /proc: the figure that holds on a loaded machine) and
 * the round trips per transaction (counted on the driver's sockets by {@link CountingSocketFactory}).
 *
 * <p>Our append writes each event twice (the store row and its outbox row, so it is also published) and moves the
 * stream's version row; Axon's writes one row (its engine as its builder documents it, without Spring: a
 * connection provider, no transaction manager, Jackson, its PostgreSQL table factory; the harness brackets each
 * append in a transaction, as a unit of work would); the plain anchor writes the same event and outbox rows as ours
 * into tables from the same DDL with one batch {@code INSERT} per table, in one transaction, without the version
 * check.
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

    /** One run's figures: events per second, CPU per event (this JVM + the 4 server backends), round trips per tx. */
    record Run(double eventsPerSecond, double cpuMicrosPerEvent, double serverMicrosPerEvent,
               double roundTripsPerTx, double appendsPerCommit) {
        Run(double eventsPerSecond, double cpuMicrosPerEvent, double serverMicrosPerEvent, double roundTripsPerTx) {
            this(eventsPerSecond, cpuMicrosPerEvent, serverMicrosPerEvent, roundTripsPerTx, 0);
        }
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        String url = System.getenv().getOrDefault("EVENTBUS_TEST_POSTGRES_URL",
                "jdbc:postgresql://127.0.0.1:5432/test?user=postgres");
        url = url.startsWith("jdbc:") ? url : "jdbc:" + url;
        // The benchmark's own connections count round trips; the store never relies on URL flags.
        String countingUrl = url + (url.contains("?") ? "&" : "?") + "socketFactory="
                + CountingSocketFactory.class.getName();
        String p = "bench_es_" + UUID.randomUUID().toString().substring(0, 6) + "_";
        ThreadConnections ds = new ThreadConnections(countingUrl);
        try (EventBus bus = EventBus.builder().service("bench").eventType(Deposited.class).build()) {
            JdbcEventStore store = JdbcEventStore.builder(ds).bus(bus).tablePrefix(p).schemaMode(SchemaMode.ALWAYS)
                    .build();
            JdbcEventStorageEngine axon = axon(ds, p);
            // The plain anchor writes the same rows (event row + outbox row per event, same bytes) into tables made
            // by the same DDL (same columns and indexes), in one transaction per append, with plain batch INSERTs.
            // It skips what makes an append an append: the stream's version check.
            JdbcEventStore plainTables = JdbcEventStore.builder(ds).bus(bus).tablePrefix(p + "pl_")
                    .schemaMode(SchemaMode.ALWAYS).build();
            Outbox plainOutbox = plainTables.outbox();
            Appender ours = (stream, version, events) -> store.append(stream, ExpectedVersion.exactly(version), events);
            // The same append joining a transaction of the caller's, as an application does it with its own SQL.
            Appender oursInTx = (stream, version, events) -> {
                try (Connection c = ds.getConnection()) {
                    c.setAutoCommit(false);
                    store.append(stream, ExpectedVersion.exactly(version), events, c);
                    c.commit();
                }
            };
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
            String plainSql = "INSERT INTO " + p + "pl_store_event (stream_id, version, event_id, event_type,"
                    + " bus_stream, headers, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
            Appender plain = (stream, version, events) -> {
                List<TransportMessage> messages = new ArrayList<>(events.size());
                for (Deposited e : events) {
                    messages.add(bus.messageFor(e, PublishOptions.builder().key(stream).build()));
                }
                try (Connection c = ds.getConnection()) {
                    c.setAutoCommit(false);
                    try (PreparedStatement ps = c.prepareStatement(plainSql)) {
                        long now = System.currentTimeMillis();
                        for (int i = 0; i < messages.size(); i++) {
                            TransportMessage m = messages.get(i);
                            ps.setString(1, stream);
                            ps.setLong(2, version + i + 1);
                            ps.setString(3, m.id());
                            ps.setString(4, m.type());
                            ps.setString(5, m.stream());
                            ps.setString(6, HeaderCodec.encode(m.headers(), MessageHeaders.ID, MessageHeaders.TYPE));
                            ps.setBytes(7, m.body());
                            ps.setLong(8, now);
                            ps.addBatch();
                        }
                        ps.executeBatch();
                    }
                    plainOutbox.publishMessages(messages, c);
                    c.commit();
                }
            };

            // The same store without group commit (same tables): what sharing commits changes, in the same round.
            JdbcEventStore alone = JdbcEventStore.builder(ds).bus(bus).tablePrefix(p).schemaMode(SchemaMode.ALWAYS)
                    .groupCommit(false).build();
            Appender oursAlone = (stream, version, events) -> alone.append(stream, ExpectedVersion.exactly(version),
                    events);
            List<String> names = List.of("ours", "axon", "plain", "ours-in-tx", "ours-no-group-commit");
            List<Appender> appenders = List.of(ours, axonAppender, plain, oursInTx, oursAlone);
            int m = names.size();
            System.out.printf("event store benchmark on %s, %d threads, %d rounds, the order of %s rotated each"
                    + " round%n", url, THREADS, rounds, names);
            System.out.println("per run: events/s | CPU us per event (this JVM + the 4 PostgreSQL backends; the backends' part)"
                    + " | round trips per append | (ours only) appends per commit of the group commit. ours = append in its own transaction, ours-in-tx = append"
                    + " joining the caller's transaction (+ the caller's commit)");
            for (int perTx : new int[] {1, 10}) {
                int txPerThread = perTx == 1 ? 400 : 100;
                for (int k = 0; k < m; k++) {
                    run("warm-up", appenders.get(k), perTx, txPerThread / 4, names.get(k) + "w" + perTx, ds);
                }
                Run[][] runs = new Run[m][rounds];
                for (int r = 0; r < rounds; r++) {
                    String tag = "r" + perTx + "_" + r;
                    double load = loadAverage();
                    for (int j = 0; j < m; j++) {
                        int k = (j + r) % m;
                        runs[k][r] = run(names.get(k), appenders.get(k), perTx, txPerThread, tag, ds);
                    }
                    StringBuilder line = new StringBuilder(String.format("append %2d/tx round %d (load %.1f -> %.1f):",
                            perTx, r + 1, load, loadAverage()));
                    for (int k = 0; k < m; k++) {
                        line.append(' ').append(names.get(k)).append(' ').append(fmt(runs[k][r])).append(';');
                    }
                    line.append(String.format(" ours/axon %.2fx (CPU %.2fx), ours/plain %.2fx (CPU %.2fx),"
                                    + " ours-in-tx/axon %.2fx, ours-in-tx/plain %.2fx, ours/ours-no-group-commit %.2fx"
                                    + " (CPU %.2fx), ours-no-group-commit/axon %.2fx",
                            runs[0][r].eventsPerSecond() / runs[1][r].eventsPerSecond(),
                            runs[1][r].cpuMicrosPerEvent() / runs[0][r].cpuMicrosPerEvent(),
                            runs[0][r].eventsPerSecond() / runs[2][r].eventsPerSecond(),
                            runs[2][r].cpuMicrosPerEvent() / runs[0][r].cpuMicrosPerEvent(),
                            runs[3][r].eventsPerSecond() / runs[1][r].eventsPerSecond(),
                            runs[3][r].eventsPerSecond() / runs[2][r].eventsPerSecond(),
                            runs[0][r].eventsPerSecond() / runs[4][r].eventsPerSecond(),
                            runs[4][r].cpuMicrosPerEvent() / runs[0][r].cpuMicrosPerEvent(),
                            runs[4][r].eventsPerSecond() / runs[1][r].eventsPerSecond()));
                    System.out.println(line);
                }
                // Medians of the per-round ratios: each ratio pairs runs of the same round.
                System.out.printf("append %2d event(s)/tx, medians of the rounds' ratios: ours/axon = %.2fx (target"
                                + " >= 2x), ours/plain = %.2fx (target >= 0.77x), ours-in-tx/axon = %.2fx,"
                                + " ours-in-tx/plain = %.2fx; CPU per event axon/ours = %.2fx, plain/ours = %.2fx;"
                                + " ours/ours-no-group-commit = %.2fx, ours-no-group-commit/axon = %.2fx%n",
                        perTx, medianRatio(runs[0], runs[1], Run::eventsPerSecond),
                        medianRatio(runs[0], runs[2], Run::eventsPerSecond),
                        medianRatio(runs[3], runs[1], Run::eventsPerSecond),
                        medianRatio(runs[3], runs[2], Run::eventsPerSecond),
                        medianRatio(runs[1], runs[0], Run::cpuMicrosPerEvent),
                        medianRatio(runs[2], runs[0], Run::cpuMicrosPerEvent),
                        medianRatio(runs[0], runs[4], Run::eventsPerSecond),
                        medianRatio(runs[4], runs[1], Run::eventsPerSecond));
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
                        + "pl_store_event WHERE stream_id = ? ORDER BY version")) {
                    ps.setString(1, stream);
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            n += JSON.readValue(rs.getBytes(4), Deposited.class) != null ? 1 : 0;
                        }
                    }
                }
                return n;
            };
            List<Loader> loaders = List.of(oursLoad, axonLoad, plainLoad);
            for (Loader l : loaders) {
                for (int i = 0; i < 10; i++) {
                    if (l.load("load-1") != 1000) {
                        throw new IllegalStateException("a loader did not read 1,000 events");
                    }
                }
            }
            int loadsPerRun = 50;
            Run[][] loads = new Run[3][rounds];
            for (int r = 0; r < rounds; r++) {
                double load = loadAverage();
                for (int j = 0; j < 3; j++) {
                    int k = (j + r) % 3;
                    long client0 = processCpuNanos();
                    long server0 = ds.backendCpuNanos();
                    long t0 = System.nanoTime();
                    for (int i = 0; i < loadsPerRun; i++) {
                        loaders.get(k).load("load-1");
                    }
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    long server = ds.backendCpuNanos() - server0;
                    long cpu = processCpuNanos() - client0 + server;
                    loads[k][r] = new Run(loadsPerRun / seconds, cpu / 1e3 / loadsPerRun, server / 1e3 / loadsPerRun,
                            0);
                }
                System.out.printf("load round %d (load %.1f): ours %.1f loads/s | %.0f us CPU per load, axon %.1f |"
                                + " %.0f us, plain SELECT+Jackson %.1f | %.0f us; ours/axon %.2fx (CPU %.2fx),"
                                + " ours/plain %.2fx%n", r + 1, load,
                        loads[0][r].eventsPerSecond(), loads[0][r].cpuMicrosPerEvent(),
                        loads[1][r].eventsPerSecond(), loads[1][r].cpuMicrosPerEvent(),
                        loads[2][r].eventsPerSecond(), loads[2][r].cpuMicrosPerEvent(),
                        loads[0][r].eventsPerSecond() / loads[1][r].eventsPerSecond(),
                        loads[1][r].cpuMicrosPerEvent() / loads[0][r].cpuMicrosPerEvent(),
                        loads[0][r].eventsPerSecond() / loads[2][r].eventsPerSecond());
            }
            System.out.printf("load 1,000-event stream, medians of the rounds' ratios: ours/axon = %.2fx (target >="
                            + " 1x), CPU per load axon/ours = %.2fx, ours/plain = %.2fx%n",
                    medianRatio(loads[0], loads[1], Run::eventsPerSecond),
                    medianRatio(loads[1], loads[0], Run::cpuMicrosPerEvent),
                    medianRatio(loads[0], loads[2], Run::eventsPerSecond));
        } finally {
            try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
                for (String prefix : List.of(p, p + "pl_")) {
                    for (String t : List.of("store_event", "store_stream", "store_head", "store_snapshot",
                            "store_projection", "outbox", "outbox_lease", "outbox_relay", "axon_events",
                            "axon_snapshots")) {
                        s.execute("DROP TABLE IF EXISTS " + prefix + t + " CASCADE");
                    }
                    s.execute("DROP VIEW IF EXISTS " + prefix + "outbox_status CASCADE");
                }
            }
            ds.closeAll();
        }
    }

    private static String fmt(Run r) {
        String s = String.format("%.0f ev/s | %.0f us (server %.0f) | %.2f RT", r.eventsPerSecond(),
                r.cpuMicrosPerEvent(), r.serverMicrosPerEvent(), r.roundTripsPerTx());
        // Only ours in its own transaction goes through the group commit: how many appends shared a commit.
        return r.appendsPerCommit() > 0 ? s + String.format(" | %.2f appends/commit", r.appendsPerCommit()) : s;
    }

    private static double loadAverage() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
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

    /**
     * {@code txPerThread} transactions on each of the 4 threads: events per second, CPU per event (this process
     * plus the server backends of the 4 connections) and round trips per transaction.
     */
    private static Run run(String name, Appender appender, int perTx, int txPerThread, String tag,
                           ThreadConnections ds) throws InterruptedException {
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
        long client0 = processCpuNanos();
        long server0 = ds.backendCpuNanos();
        long trips0 = CountingSocketFactory.ROUND_TRIPS.get();
        long grouped0 = GroupCommit.requestsWritten();
        long commits0 = GroupCommit.batchesWritten();
        long t0 = System.nanoTime();
        start.countDown();
        done.await();
        double seconds = (System.nanoTime() - t0) / 1e9;
        long trips = CountingSocketFactory.ROUND_TRIPS.get() - trips0;
        long server = ds.backendCpuNanos() - server0;
        long cpu = processCpuNanos() - client0 + server;
        if (failure.get() != null) {
            throw new IllegalStateException(name + " failed", failure.get());
        }
        long events = (long) THREADS * txPerThread * perTx;
        long commits = GroupCommit.batchesWritten() - commits0;
        return new Run(events / seconds, cpu / 1e3 / events, server / 1e3 / events,
                (double) trips / (THREADS * txPerThread),
                commits == 0 ? 0 : (double) (GroupCommit.requestsWritten() - grouped0) / commits);
    }

    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /** The median over the rounds of {@code f(a) / f(b)}, each ratio from one round. */
    private static double medianRatio(Run[] a, Run[] b, java.util.function.ToDoubleFunction<Run> f) {
        double[] xs = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            xs[i] = f.applyAsDouble(a[i]) / f.applyAsDouble(b[i]);
        }
        return median(xs);
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
        private final List<Integer> backends = new ArrayList<>();
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
                int pid;
                try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
                    rs.next();
                    pid = rs.getInt(1);
                }
                synchronized (all) {
                    all.add(c);
                    backends.add(pid);
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

        /**
         * CPU time the server processes of these connections used so far, from /proc (the server is local; 0 when
         * /proc cannot be read, which makes the CPU figures client-only).
         */
        long backendCpuNanos() {
            List<Integer> pids;
            synchronized (all) {
                pids = new ArrayList<>(backends);
            }
            long ticks = 0;
            for (int pid : pids) {
                try {
                    String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/" + pid + "/stat"));
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime (fields 14 and 15)
                } catch (java.io.IOException | RuntimeException e) {
                    return 0;
                }
            }
            return ticks * 10_000_000L; // USER_HZ is 100 on Linux
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
