package dev.eventbus.benchmarks.process;

import dev.eventbus.EventBus;
import dev.eventbus.Subscribe;
import dev.eventbus.jdbc.JdbcProcessStore;
import dev.eventbus.jdbc.Outbox;
import dev.eventbus.jdbc.OutboxRelay;
import dev.eventbus.jdbc.SchemaMode;
import dev.eventbus.process.InMemoryProcessStore;
import dev.eventbus.process.ProcessManager;
import dev.eventbus.process.ProcessStatus;
import dev.eventbus.process.ProcessStore;
import dev.eventbus.process.ProcessView;
import dev.eventbus.process.SagaDefinition;
import org.HdrHistogram.Histogram;
import org.postgresql.ds.PGSimpleDataSource;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;

/**
 * {@code sagas} (1,000) order sagas started at once on PostgreSQL: reserve stock, charge payment (one in ten is
 * declined, so its stock is released), ship. State in {@link JdbcProcessStore}, commands through the transactional
 * outbox and an {@link OutboxRelay} to the in-memory transport, where the three services reply. Reports sagas/s
 * (all started to all finished) and the step latency: from a step's command being committed to the next state
 * change (the reply applied), read from each saga's history, p50/p99/max.
 *
 * <p>Checks every saga ended as it should (COMPLETED, or COMPENSATED with the stock released) and no command was
 * handled twice; exits 1 otherwise.
 *
 * <p>Anchors in the same run (alternated, {@code pairs} times): <b>memory</b>, the same sagas with the in-memory
 * store (the cost of durability is the ratio); <b>raw SQL</b>, the least database work a durable step needs, with
 * no bus: per step one transaction doing a version-checked {@code UPDATE} of a saga row and an {@code INSERT} of a
 * command row, on the same pool and threads.
 *
 * <p>Then one open-loop run: the same number of sagas started at {@code rate} per second (50), for the step latency
 * of a steady load rather than of a burst's queue.
 *
 * <p>System properties: {@code sagas} (1000), {@code pairs} (3), {@code pool} (16 connections), {@code concurrency}
 * (8 per group), {@code rate} (50; 0 skips the open-loop run). Database: env {@code EVENTBUS_TEST_POSTGRES_URL}, default the local server. Run:
 * {@code java -cp eventbus-benchmarks/target/benchmarks.jar dev.eventbus.benchmarks.process.SagaThroughput}.
 */
public final class SagaThroughput {

    public record OrderPlaced(String orderId, int amount) {
    }

    public record ReserveStock(String orderId) {
    }

    public record StockReserved(String orderId) {
    }

    public record ReleaseStock(String orderId) {
    }

    public record ChargePayment(String orderId, int amount) {
    }

    public record PaymentCharged(String orderId) {
    }

    public record PaymentDeclined(String orderId) {
    }

    public record ShipOrder(String orderId) {
    }

    public record OrderShipped(String orderId) {
    }

    public record OrderDone(String orderId, boolean confirmed) {
    }

    static final SagaDefinition<OrderPlaced> SAGA = SagaDefinition.builder("bench-order", OrderPlaced.class,
                    OrderPlaced::orderId)
            .step("reserve-stock", o -> new ReserveStock(o.orderId()))
            .completedBy(StockReserved.class, StockReserved::orderId)
            .compensateWith(o -> new ReleaseStock(o.orderId()))
            .step("charge-payment", o -> new ChargePayment(o.orderId(), o.amount()))
            .completedBy(PaymentCharged.class, PaymentCharged::orderId)
            .failedBy(PaymentDeclined.class, PaymentDeclined::orderId)
            .step("ship", o -> new ShipOrder(o.orderId()))
            .completedBy(OrderShipped.class, OrderShipped::orderId)
            .onCompleted(o -> new OrderDone(o.orderId(), true))
            .onCompensated(o -> new OrderDone(o.orderId(), false))
            .build();

    /** The three services; count the commands they handle. */
    public static final class Services {
        final EventBus bus;
        final LongAdder commands = new LongAdder();
        final LongAdder releases = new LongAdder();
        final LongAdder finished = new LongAdder();

        Services(EventBus bus) {
            this.bus = bus;
        }

        @Subscribe(group = "stock")
        void on(ReserveStock c) {
            commands.increment();
            bus.publish(new StockReserved(c.orderId()));
        }

        @Subscribe(group = "stock")
        void on(ReleaseStock c) {
            commands.increment();
            releases.increment();
        }

        @Subscribe(group = "payment")
        void on(ChargePayment c) {
            commands.increment();
            bus.publish(c.amount() > 900 ? new PaymentDeclined(c.orderId()) : new PaymentCharged(c.orderId()));
        }

        @Subscribe(group = "orders")
        void on(OrderDone e) {
            finished.increment();
        }

        @Subscribe(group = "shipping")
        void on(ShipOrder c) {
            commands.increment();
            bus.publish(new OrderShipped(c.orderId()));
        }
    }

    record Result(double sagasPerSecond, Histogram steps, boolean correct) {
    }

    private final int sagas = Integer.getInteger("sagas", 1000);
    /** Sagas started per second in the open-loop run; 0 skips it. */
    private final int rate = Integer.getInteger("rate", 50);
    private final int concurrency = Integer.getInteger("concurrency", 8);
    private final ConnectionPool pool;
    private final String prefix = "bench_saga_" + UUID.randomUUID().toString().substring(0, 6) + "_";

    private SagaThroughput() throws SQLException {
        String url = System.getenv("EVENTBUS_TEST_POSTGRES_URL");
        url = url == null || url.isBlank() ? "jdbc:postgresql://127.0.0.1:5432/test?user=postgres"
                : (url.startsWith("jdbc:") ? url : "jdbc:" + url);
        PGSimpleDataSource pg = new PGSimpleDataSource();
        pg.setURL(url);
        try {
            this.pool = new ConnectionPool(pg, Integer.getInteger("pool", 16));
        } catch (SQLException e) {
            throw new IllegalStateException("PostgreSQL is not reachable at " + url + " (" + e.getMessage()
                    + "); start it with `pg_ctlcluster 15 main start` or set EVENTBUS_TEST_POSTGRES_URL", e);
        }
    }

    public static void main(String[] args) throws Exception {
        SagaThroughput b = new SagaThroughput();
        boolean ok;
        try {
            ok = b.run(Integer.getInteger("pairs", 3));
        } finally {
            b.dropTables();
            b.pool.close();
        }
        System.exit(ok ? 0 : 1);
    }

    private boolean run(int pairs) throws Exception {
        String version;
        try (Connection c = pool.getConnection()) {
            version = c.getMetaData().getDatabaseProductName() + " " + c.getMetaData().getDatabaseProductVersion();
        }
        System.out.printf("%,d concurrent order sagas (3 steps, 1 in 10 compensated) on %s, pool %d, concurrency %d"
                + " per group (%s, %d cores)%n", sagas, version, Integer.getInteger("pool", 16), concurrency,
                LocalDate.now(), Runtime.getRuntime().availableProcessors());
        jdbc(Math.min(200, sagas), "warmup");
        memory(Math.min(200, sagas));
        raw(Math.min(200, sagas));
        boolean ok = true;
        List<double[]> rows = new ArrayList<>();
        for (int i = 0; i < pairs; i++) {
            Result ours = jdbc(sagas, "r" + i);
            Result mem = memory(sagas);
            double rawRate = raw(sagas);
            ok &= ours.correct && mem.correct;
            System.out.printf("  pair %d: jdbc %,.0f sagas/s (step p50 %.1f ms, p99 %.1f ms, max %.1f ms) | memory"
                            + " %,.0f sagas/s | raw SQL %,.0f sagas/s | jdbc/raw %.2f%n", i + 1, ours.sagasPerSecond,
                    ours.steps.getValueAtPercentile(50) / 1000.0, ours.steps.getValueAtPercentile(99) / 1000.0,
                    ours.steps.getMaxValue() / 1000.0, mem.sagasPerSecond, rawRate, ours.sagasPerSecond / rawRate);
            rows.add(new double[] {ours.sagasPerSecond, ours.steps.getValueAtPercentile(99) / 1000.0,
                    mem.sagasPerSecond, rawRate});
        }
        double[] jdbcRates = rows.stream().mapToDouble(r -> r[0]).toArray();
        double[] p99 = rows.stream().mapToDouble(r -> r[1]).toArray();
        double[] memRates = rows.stream().mapToDouble(r -> r[2]).toArray();
        double[] rawRates = rows.stream().mapToDouble(r -> r[3]).toArray();
        System.out.printf("median: jdbc %,.0f sagas/s, step p99 %.1f ms; memory %,.0f sagas/s; raw SQL %,.0f sagas/s;"
                        + " jdbc/raw %.2f, jdbc/memory %.2f; every saga correct: %s%n", median(jdbcRates), median(p99),
                median(memRates), median(rawRates), median(jdbcRates) / median(rawRates),
                median(jdbcRates) / median(memRates), ok);
        if (rate > 0) {
            // open loop: sagas started at a fixed rate, so the step latency is not the queue of a 1,000-saga burst
            Result open = jdbc(sagas, "open", rate);
            ok &= open.correct;
            System.out.printf("open loop, %d sagas started at %d/s: step p50 %.1f ms, p99 %.1f ms, max %.1f ms;"
                            + " correct: %s%n", sagas, rate, open.steps.getValueAtPercentile(50) / 1000.0,
                    open.steps.getValueAtPercentile(99) / 1000.0, open.steps.getMaxValue() / 1000.0, open.correct);
        }
        return ok;
    }

    private Result jdbc(int n, String round) throws Exception {
        return jdbc(n, round, 0);
    }

    private Result jdbc(int n, String round, int startsPerSecond) throws Exception {
        try (EventBus bus = EventBus.builder().service("bench-saga").concurrency(concurrency).build()) {
            String p = prefix + round + "_";
            Outbox outbox = Outbox.builder(pool).bus(bus).tablePrefix(p).schemaMode(SchemaMode.ALWAYS).build();
            JdbcProcessStore store = JdbcProcessStore.builder(pool).outbox(outbox).tablePrefix(p)
                    .schemaMode(SchemaMode.ALWAYS).build();
            try (OutboxRelay relay = OutboxRelay.builder(pool, bus.transport("memory")).tablePrefix(p)
                    .schemaMode(SchemaMode.ALWAYS).pollInterval(Duration.ofMillis(10)).build()) {
                return sagas(bus, store, n, startsPerSecond);
            }
        }
    }

    private Result memory(int n) throws Exception {
        try (EventBus bus = EventBus.builder().service("bench-saga-memory").concurrency(concurrency)
                .dispatch(dev.eventbus.DispatchMode.ASYNC).build()) {
            return sagas(bus, new InMemoryProcessStore(), n, 0);
        }
    }

    private Result sagas(EventBus bus, ProcessStore store, int n, int startsPerSecond) throws Exception {
        Services services = new Services(bus);
        bus.register(services);
        List<String> ids = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            ids.add(UUID.randomUUID().toString());
        }
        try (ProcessManager manager = ProcessManager.builder(bus, store).saga(SAGA).build()) {
            ExecutorService starters = Executors.newFixedThreadPool(concurrency);
            long start = System.nanoTime();
            List<Future<?>> started = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                OrderPlaced order = new OrderPlaced(ids.get(i), i % 10 == 0 ? 1000 : 100);
                if (startsPerSecond > 0) {
                    long due = start + i * 1_000_000_000L / startsPerSecond;
                    while (System.nanoTime() < due) {
                        java.util.concurrent.locks.LockSupport.parkNanos(due - System.nanoTime());
                    }
                }
                started.add(starters.submit(() -> bus.publish(order).join()));
            }
            for (Future<?> f : started) {
                f.get();
            }
            starters.shutdown();
            int declined = (n + 9) / 10;
            long expectedCommands = 3L * (n - declined) + 3L * declined;
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
            while (services.commands.sum() < expectedCommands || services.finished.sum() < n) {
                if (System.nanoTime() > deadline) {
                    System.out.println("  TIMEOUT: " + services.commands.sum() + " of " + expectedCommands
                            + " commands handled");
                    return new Result(0, new Histogram(3), false);
                }
                Thread.sleep(5);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            Thread.sleep(100); // anything handled twice would show now
            Histogram steps = new Histogram(TimeUnit.MINUTES.toMicros(5), 3);
            boolean correct = services.commands.sum() == expectedCommands && services.releases.sum() == declined
                    && services.finished.sum() == n;
            for (int i = 0; i < n; i++) {
                ProcessView v = manager.status("bench-order", ids.get(i)).orElseThrow();
                correct &= v.status() == (i % 10 == 0 ? ProcessStatus.COMPENSATED : ProcessStatus.COMPLETED);
                record(v, steps);
            }
            return new Result(n / seconds, steps, correct);
        }
    }

    /** Step latency: each state change after a command was sent, minus the time it was sent. */
    private static void record(ProcessView v, Histogram steps) {
        Instant sent = null;
        for (String h : v.history()) {
            Instant at = Instant.parse(h.substring(0, h.indexOf(' ')));
            if (sent != null && (h.contains("completed by") || h.contains("failed by"))) {
                steps.recordValue(Math.max(0, Duration.between(sent, at).toNanos() / 1000));
                sent = null;
            }
            if (h.contains(": sent ")) {
                sent = at;
            }
        }
    }

    /** The anchor: per step, one transaction with a version-checked UPDATE and a command INSERT; no bus. */
    private double raw(int n) throws Exception {
        String sagaTable = prefix + "raw_saga";
        String commandTable = prefix + "raw_command";
        try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
            s.execute("CREATE TABLE IF NOT EXISTS " + sagaTable + " (id VARCHAR(200) PRIMARY KEY, version BIGINT NOT NULL,"
                    + " step INT NOT NULL, state_json TEXT NOT NULL)");
            s.execute("CREATE TABLE IF NOT EXISTS " + commandTable + " (id BIGSERIAL PRIMARY KEY, saga_id VARCHAR(200),"
                    + " body TEXT NOT NULL)");
        }
        ExecutorService workers = Executors.newFixedThreadPool(concurrency);
        long start = System.nanoTime();
        List<Future<?>> done = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String id = UUID.randomUUID().toString();
            done.add(workers.submit(() -> {
                for (int step = 0; step <= 3; step++) {
                    try (Connection c = pool.getConnection()) {
                        c.setAutoCommit(false);
                        if (step == 0) {
                            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + sagaTable
                                    + " (id, version, step, state_json) VALUES (?, 1, 0, ?)")) {
                                ps.setString(1, id);
                                ps.setString(2, "{\"start\":{\"orderId\":\"" + id + "\",\"amount\":100}}");
                                ps.executeUpdate();
                            }
                        } else {
                            try (PreparedStatement ps = c.prepareStatement("UPDATE " + sagaTable
                                    + " SET version = version + 1, step = ? WHERE id = ? AND version = ?")) {
                                ps.setInt(1, step);
                                ps.setString(2, id);
                                ps.setLong(3, step);
                                if (ps.executeUpdate() != 1) {
                                    throw new IllegalStateException("lost update");
                                }
                            }
                        }
                        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + commandTable
                                + " (saga_id, body) VALUES (?, ?)")) {
                            ps.setString(1, id);
                            ps.setString(2, "{\"orderId\":\"" + id + "\",\"step\":" + step + "}");
                            ps.executeUpdate();
                        }
                        c.commit();
                    }
                }
                return null;
            }));
        }
        for (Future<?> f : done) {
            f.get();
        }
        workers.shutdown();
        return n / ((System.nanoTime() - start) / 1e9);
    }

    private void dropTables() {
        try (Connection c = pool.getConnection(); Statement s = c.createStatement()) {
            List<String> tables = new ArrayList<>();
            try (var rs = c.getMetaData().getTables(null, null, prefix.replace("_", "\\_") + "%", new String[] {"TABLE", "VIEW"})) {
                while (rs.next()) {
                    tables.add(rs.getString("TABLE_TYPE") + " " + rs.getString("TABLE_NAME"));
                }
            }
            for (String t : tables) {
                String[] parts = t.split(" ", 2);
                s.execute("DROP " + parts[0] + " IF EXISTS " + parts[1] + " CASCADE");
            }
        } catch (SQLException e) {
            System.err.println("could not drop the " + prefix + "* tables: " + e.getMessage());
        }
    }

    private static double median(double[] xs) {
        double[] s = xs.clone();
        java.util.Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
