package dev.eventbus.benchmarks.jdbc;

import dev.eventbus.jdbc.Outbox;
import dev.eventbus.jdbc.OutboxRelay;
import dev.eventbus.jdbc.SchemaMode;
import dev.eventbus.spi.TransportMessage;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.LocalDate;
import java.util.Locale;
import javax.sql.DataSource;

/**
 * Drains a backlog of outbox rows on the local PostgreSQL to a no-op transport, three ways, alternated after a
 * warm-up (see {@code shared/BENCHMARKS.md}):
 * <ul>
 *   <li><b>ours</b>: {@link OutboxRelay} with its defaults (batches of 500, each row written once, as
 *       {@code published}, and kept for the retention), over the whole backlog;</li>
 *   <li><b>naive</b>: a relay that claims one row ({@code FOR UPDATE SKIP LOCKED}), sends it and marks it published,
 *       one transaction per row, for {@code naiveSeconds} on the same backlog (draining a million rows that way
 *       would take many minutes);</li>
 *   <li><b>raw</b>: the anchor from BENCHMARKS.md, plain SQL claim-and-delete in batches of 1,000 ({@code DELETE ...
 *       WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING}), sending each row, for {@code rawSeconds}.</li>
 * </ul>
 * Every run starts from a fresh backlog of {@code rows} rows of 1,000 keys (~200-byte bodies, full CloudEvents
 * headers), written server-side from one row the real {@link Outbox} wrote, then vacuumed and analyzed.
 *
 * <p>System properties: {@code rows} (1000000), {@code pairs} (3), {@code naiveSeconds} (10), {@code rawSeconds} (10),
 * {@code batch} (500), {@code retention} (24h; 0s deletes rows as they are published). Database: env
 * {@code EVENTBUS_TEST_POSTGRES_URL}, default the local server. Run: {@code java -cp
 * eventbus-benchmarks/target/benchmarks.jar dev.eventbus.benchmarks.jdbc.OutboxRelayDrain}.
 */
public final class OutboxRelayDrain {

    private final DataSource ds = BenchSupport.postgres();
    private final String prefix = BenchSupport.prefix("relay");
    private final String table = prefix + "outbox";
    private final int rows = Integer.getInteger("rows", 1_000_000);
    private final int batch = Integer.getInteger("batch", 500);
    private final Duration retention = Duration.parse("PT" + System.getProperty("retention", "24h").toUpperCase(Locale.ROOT));

    public static void main(String[] args) throws Exception {
        new OutboxRelayDrain().run(Integer.getInteger("pairs", 3), Integer.getInteger("naiveSeconds", 10),
                Integer.getInteger("rawSeconds", 10));
    }

    private void run(int pairs, int naiveSeconds, int rawSeconds) throws Exception {
        Outbox outbox = Outbox.builder(ds).tablePrefix(prefix).schemaMode(SchemaMode.ALWAYS).build();
        try {
            System.out.printf("Outbox relay drain on %s, %,d-row backlog, batch %d, retention %s (%s, 2 cores)%n",
                    version(), rows, batch, retention, LocalDate.now());
            // Warm-up: JIT and the table's first pages.
            fill(outbox, 50_000);
            ours(50_000);
            fill(outbox, 50_000);
            naive(2);
            fill(outbox, 50_000);
            raw(2);

            double[] oursRate = new double[pairs];
            double[] naiveRate = new double[pairs];
            double[] rawRate = new double[pairs];
            for (int i = 0; i < pairs; i++) {
                fill(outbox, rows);
                oursRate[i] = ours(rows);
                fill(outbox, rows);
                naiveRate[i] = naive(naiveSeconds);
                fill(outbox, rows);
                rawRate[i] = raw(rawSeconds);
                System.out.printf("pair %d: ours %,.0f rows/s, naive %,.0f rows/s, raw claim-and-delete %,.0f rows/s%n",
                        i + 1, oursRate[i], naiveRate[i], rawRate[i]);
            }
            double o = BenchSupport.median(oursRate);
            double n = BenchSupport.median(naiveRate);
            double r = BenchSupport.median(rawRate);
            System.out.printf("median: ours %,.0f rows/s = %.1fx the naive relay (%,.0f rows/s) and %.2fx raw "
                    + "claim-and-delete (%,.0f rows/s)%n", o, o / n, n, o / r, r);
        } finally {
            BenchSupport.drop(ds, prefix + "outbox_status", prefix + "outbox", prefix + "outbox_lease",
                    prefix + "outbox_relay");
        }
    }

    private String version() throws SQLException {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SHOW server_version")) {
            rs.next();
            return "PostgreSQL " + rs.getString(1);
        }
    }

    /** A fresh backlog of {@code n} pending rows, cloned server-side from one row the real outbox wrote. */
    private void fill(Outbox outbox, int n) throws SQLException {
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(true);
            try (Statement s = c.createStatement()) {
                s.execute("TRUNCATE " + table);
                s.execute("DELETE FROM " + prefix + "outbox_lease");
                s.execute("DELETE FROM " + prefix + "outbox_relay");
            }
            c.setAutoCommit(false);
            TransportMessage template = BenchSupport.orderMessage("orders", "key-0", 0);
            outbox.publish(template, c);
            c.commit();
            c.setAutoCommit(true);
            try (Statement s = c.createStatement()) {
                s.executeUpdate("INSERT INTO " + table + " (key_hash, status, stream, msg_key, event_id, event_type,"
                        + " headers, body, priority, created_at) SELECT hashtext('key-' || (g % 1000)) & 2147483647,"
                        + " 'pending', t.stream, 'key-' || (g % 1000), md5(g::text), t.event_type, t.headers, t.body,"
                        + " 0, t.created_at FROM generate_series(2, " + n + ") g, (SELECT * FROM " + table
                        + " LIMIT 1) t");
                s.execute("VACUUM ANALYZE " + table);
            }
        }
    }

    private double ours(int n) throws Exception {
        BenchSupport.NoopTransport target = new BenchSupport.NoopTransport();
        long start = System.nanoTime();
        try (OutboxRelay relay = OutboxRelay.builder(ds, target).tablePrefix(prefix).batchSize(batch)
                .retention(retention, Duration.ofHours(1)).pollInterval(Duration.ofMillis(10)).build()) {
            while (relay.stats().published() < n) {
                Thread.sleep(1);
            }
            long nanos = System.nanoTime() - start;
            if (target.sent.sum() < n) {
                throw new IllegalStateException("published more than was sent");
            }
            return n / (nanos / 1e9);
        }
    }

    /** One row per transaction: claim, send, mark published. */
    private double naive(int seconds) throws SQLException {
        BenchSupport.NoopTransport target = new BenchSupport.NoopTransport();
        long done = 0;
        long start = System.nanoTime();
        long end = start + seconds * 1_000_000_000L;
        try (Connection c = ds.getConnection();
             PreparedStatement claim = c.prepareStatement("SELECT id, stream, msg_key, event_id, event_type,"
                     + " headers, body FROM " + table + " WHERE status = 'pending' ORDER BY id LIMIT 1"
                     + " FOR UPDATE SKIP LOCKED");
             PreparedStatement mark = c.prepareStatement("UPDATE " + table + " SET status = 'published',"
                     + " published_at = ? WHERE id = ?")) {
            c.setAutoCommit(false);
            while (System.nanoTime() < end) {
                long id;
                TransportMessage m;
                try (ResultSet rs = claim.executeQuery()) {
                    if (!rs.next()) {
                        break;
                    }
                    id = rs.getLong(1);
                    m = TransportMessage.of(rs.getString(2), rs.getString(3), java.util.Map.of("id", rs.getString(4),
                            "type", rs.getString(5), "headers", rs.getString(6)), rs.getBytes(7));
                }
                target.send(m).join();
                mark.setLong(1, System.currentTimeMillis());
                mark.setLong(2, id);
                mark.executeUpdate();
                c.commit();
                done++;
            }
        }
        return done / ((System.nanoTime() - start) / 1e9);
    }

    /** The BENCHMARKS.md anchor: claim-and-delete 1,000 rows per statement, send each. */
    private double raw(int seconds) throws SQLException {
        BenchSupport.NoopTransport target = new BenchSupport.NoopTransport();
        long done = 0;
        long start = System.nanoTime();
        long end = start + seconds * 1_000_000_000L;
        try (Connection c = ds.getConnection();
             PreparedStatement claim = c.prepareStatement("DELETE FROM " + table + " WHERE id IN (SELECT id FROM "
                     + table + " WHERE status = 'pending' ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)"
                     + " RETURNING id, stream, msg_key, event_id, event_type, headers, body")) {
            c.setAutoCommit(false);
            while (System.nanoTime() < end) {
                int got = 0;
                try (ResultSet rs = claim.executeQuery()) {
                    while (rs.next()) {
                        got++;
                        target.send(TransportMessage.of(rs.getString(2), rs.getString(3), java.util.Map.of(
                                "id", rs.getString(4), "type", rs.getString(5), "headers", rs.getString(6)),
                                rs.getBytes(7)));
                    }
                }
                c.commit();
                if (got == 0) {
                    break;
                }
                done += got;
            }
        }
        return done / ((System.nanoTime() - start) / 1e9);
    }
}
