package dev.eventbus.benchmarks.flow;

import dev.eventbus.Event;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.Subscribe;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A batch subscriber writing to PostgreSQL against a per-event subscriber doing the same inserts, in one run,
 * alternated per round (anchor first): the anchor is {@code @Subscribe void on(Recorded e)} with one
 * {@code INSERT} per event in its own transaction (auto-commit), the way a handler is usually written; ours is
 * {@code @Subscribe(batchSize = 100) void on(List<Recorded> batch)} with one multi-row {@code INSERT} and one commit
 * per batch. Both run on an in-memory bus (synchronous dispatch, one publishing thread), same events, same table,
 * same connection settings. A round publishes {@code events} events and ends when the subscriber has committed
 * the last row; the table's row count is checked after each run.
 *
 * <pre>{@code
 * mvn -q -ntp -pl eventbus-benchmarks -am -DskipTests package
 * java -cp eventbus-benchmarks/target/eventbus-benchmarks-*-SNAPSHOT.jar dev.eventbus.benchmarks.flow.BatchInsertBenchmark [rounds] [events]
 * }</pre>
 * {@code EVENTBUS_TEST_POSTGRES_URL} names another server. Prints every round with the load average, and the median.
 */
public final class BatchInsertBenchmark {

    @EventType(name = "bench.flow.recorded")
    public record Recorded(String key, long seq, String payload) implements Event {
        @Override
        public String eventKey() {
            return key;
        }
    }

    static final String PAYLOAD = "x".repeat(120);

    /** The anchor: one INSERT and one commit per event. */
    public static final class PerEvent implements AutoCloseable {
        final Connection c;
        final PreparedStatement insert;
        final AtomicLong rows = new AtomicLong();

        PerEvent(String url, String table) throws SQLException {
            c = DriverManager.getConnection(url);
            c.setAutoCommit(true);
            insert = c.prepareStatement("INSERT INTO " + table + " (key, seq, payload) VALUES (?, ?, ?)");
        }

        @Subscribe(group = "per-event")
        void on(Recorded e) throws SQLException {
            insert.setString(1, e.key());
            insert.setLong(2, e.seq());
            insert.setString(3, e.payload());
            insert.executeUpdate();
            rows.incrementAndGet();
        }

        @Override
        public void close() throws SQLException {
            c.close();
        }
    }

    /** Ours: one multi-row INSERT and one commit per batch of up to 100. */
    public static final class Batched implements AutoCloseable {
        final Connection c;
        final String table;
        final AtomicLong rows = new AtomicLong();
        PreparedStatement full;

        Batched(String url, String table) throws SQLException {
            c = DriverManager.getConnection(url);
            c.setAutoCommit(false);
            this.table = table;
        }

        private PreparedStatement statement(int n) throws SQLException {
            if (n == 100 && full != null) {
                return full;
            }
            StringBuilder sql = new StringBuilder("INSERT INTO " + table + " (key, seq, payload) VALUES ");
            for (int i = 0; i < n; i++) {
                sql.append(i == 0 ? "(?, ?, ?)" : ", (?, ?, ?)");
            }
            PreparedStatement ps = c.prepareStatement(sql.toString());
            if (n == 100) {
                full = ps;
            }
            return ps;
        }

        @Subscribe(group = "batch", batchSize = 100, batchWait = "50ms", concurrency = 1)
        void on(List<Recorded> batch) throws SQLException {
            PreparedStatement ps = statement(batch.size());
            int p = 1;
            for (Recorded e : batch) {
                ps.setString(p++, e.key());
                ps.setLong(p++, e.seq());
                ps.setString(p++, e.payload());
            }
            try {
                ps.executeUpdate();
                c.commit();
            } catch (SQLException e) {
                c.rollback();
                throw e;
            } finally {
                if (ps != full) {
                    ps.close();
                }
            }
            rows.addAndGet(batch.size());
        }

        @Override
        public void close() throws SQLException {
            c.close();
        }
    }

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int events = args.length > 1 ? Integer.parseInt(args[1]) : 5000;
        String url = System.getenv().getOrDefault("EVENTBUS_TEST_POSTGRES_URL",
                "jdbc:postgresql://127.0.0.1:5432/test?user=postgres");
        String table = "bench_flow_" + UUID.randomUUID().toString().substring(0, 8);
        try (Connection admin = DriverManager.getConnection(url); Statement s = admin.createStatement()) {
            s.execute("CREATE TABLE " + table + " (key VARCHAR(64) NOT NULL, seq BIGINT NOT NULL, payload TEXT NOT NULL)");
        } catch (SQLException e) {
            throw new IllegalStateException("PostgreSQL is not reachable at " + url + " (start it, e.g. `service "
                    + "postgresql start`, or set EVENTBUS_TEST_POSTGRES_URL): " + e.getMessage(), e);
        }
        System.out.printf("BatchInsertBenchmark: %d rounds of %d events each way, table %s, %s, %d processors%n",
                rounds, events, table, Runtime.version(), Runtime.getRuntime().availableProcessors());
        try {
            // Warm-up of both (JIT, connections, the server's caches), not reported.
            run(url, table, false, events / 5);
            run(url, table, true, events / 5);
            List<Double> ratios = new ArrayList<>();
            List<Double> anchorRates = new ArrayList<>();
            List<Double> ourRates = new ArrayList<>();
            for (int r = 1; r <= rounds; r++) {
                double anchor = run(url, table, false, events);
                String loadA = loadAverage();
                double ours = run(url, table, true, events);
                String loadB = loadAverage();
                anchorRates.add(anchor);
                ourRates.add(ours);
                ratios.add(ours / anchor);
                System.out.printf("round %d: per-event %,.0f events/s (load %s) | batch of 100 %,.0f events/s (load %s)"
                        + " | ratio %.1fx%n", r, anchor, loadA, ours, loadB, ours / anchor);
            }
            System.out.printf("median: per-event %,.0f events/s, batch %,.0f events/s, ratio %.1fx (target >= 5x: %s)%n",
                    median(anchorRates), median(ourRates), median(ratios), median(ratios) >= 5 ? "met" : "NOT met");
        } finally {
            try (Connection admin = DriverManager.getConnection(url); Statement s = admin.createStatement()) {
                s.execute("DROP TABLE " + table);
            }
        }
    }

    /** One run; returns events per second from the first publish to the last committed row. */
    static double run(String url, String table, boolean batched, int events) throws Exception {
        truncate(url, table);
        EventBus bus = EventBus.builder().service("bench-flow").build();
        AutoCloseable sub;
        AtomicLong rows;
        if (batched) {
            Batched b = new Batched(url, table);
            bus.register(b);
            sub = b;
            rows = b.rows;
        } else {
            PerEvent p = new PerEvent(url, table);
            bus.register(p);
            sub = p;
            rows = p.rows;
        }
        long start = System.nanoTime();
        for (int i = 0; i < events; i++) {
            bus.publish(new Recorded("k" + (i % 64), i, PAYLOAD));
        }
        while (rows.get() < events) {
            Thread.onSpinWait();
            if (System.nanoTime() - start > 600_000_000_000L) {
                throw new IllegalStateException("run did not finish in 10 minutes: " + rows.get() + " of " + events);
            }
        }
        long nanos = System.nanoTime() - start;
        bus.close();
        sub.close();
        long counted = count(url, table);
        if (counted != events) {
            throw new IllegalStateException((batched ? "batch" : "per-event") + " run wrote " + counted + " rows, not "
                    + events);
        }
        return events / (nanos / 1e9);
    }

    static void truncate(String url, String table) throws SQLException {
        try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
            s.execute("TRUNCATE " + table);
        }
    }

    static long count(String url, String table) throws SQLException {
        try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM " + table)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (Exception e) {
            return "n/a";
        }
    }

    static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        s.sort(Double::compare);
        int n = s.size();
        return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }
}
