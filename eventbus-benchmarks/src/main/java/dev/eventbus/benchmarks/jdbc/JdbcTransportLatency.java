package dev.eventbus.benchmarks.jdbc;

import dev.eventbus.jdbc.JdbcTransport;
import dev.eventbus.jdbc.SchemaMode;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * Append-to-handle latency of the JDBC transport on the local PostgreSQL, open loop (see
 * {@code shared/BENCHMARKS.md}): events are sent at a fixed rate, each carrying the wall-clock time (microseconds)
 * it was due, and the handler records now minus that time in an HdrHistogram, so a stall counts for every event
 * it delays (no coordinated omission).
 *
 * <p>Two set-ups, each with a warm-up whose events are not recorded:
 * <ul>
 *   <li><b>two processes</b>: the sender runs in a child JVM (a second service); the consumer in this one is woken
 *       by PostgreSQL {@code NOTIFY};</li>
 *   <li><b>one process</b>: sender and consumer are two transport instances in this JVM, woken in process.</li>
 * </ul>
 * Default settings otherwise ({@code poll-interval} 500ms, commit interval 100ms), 100 keys, one handler thread,
 * 200-byte bodies. The anchor, in the same run: <b>raw LISTEN/NOTIFY</b>, plain JDBC: one connection inserts a row,
 * calls {@code pg_notify} and commits per event (asynchronously, so that the disk's commit rate does not queue it
 * up), another listens ({@code PGConnection.getNotifications}): the database's own notification delivery, a floor
 * under the two-process figure, whose appends commit synchronously.
 *
 * <p>System properties: {@code rate} (1000 events/s), {@code seconds} (30), {@code warmup} (5). Database: env
 * {@code EVENTBUS_TEST_POSTGRES_URL}, default the local server. Run: {@code java -cp
 * eventbus-benchmarks/target/benchmarks.jar dev.eventbus.benchmarks.jdbc.JdbcTransportLatency}.
 */
public final class JdbcTransportLatency {

    private final String prefix = BenchSupport.prefix("latency");
    private final int rate = Integer.getInteger("rate", 1000);
    private final int seconds = Integer.getInteger("seconds", 30);
    private final int warmup = Integer.getInteger("warmup", 5);

    public static void main(String[] args) throws Exception {
        if (args.length == 4 && args[0].equals("--send")) {
            // Child process: send at the rate, then exit.
            JdbcTransport t = JdbcTransport.builder(BenchSupport.postgres()).tablePrefix(args[1]).build();
            drive(t, args[2], Integer.parseInt(args[3]), Integer.getInteger("total", 0));
            t.close(Duration.ofSeconds(10));
            return;
        }
        new JdbcTransportLatency().run();
    }

    private void run() throws Exception {
        System.out.printf("JDBC transport append-to-handle latency on PostgreSQL, %,d events/s for %d s after %d s"
                + " warm-up (%s, 2 cores)%n", rate, seconds, warmup, LocalDate.now());
        try {
            measure("two processes (NOTIFY wake-up)", true);
            measure("one process, two instances (in-process wake-up)", false);
            raw();
        } finally {
            BenchSupport.drop(BenchSupport.postgres(), prefix + "stream", prefix + "log", prefix + "cursor",
                    prefix + "member", prefix + "retry", prefix + "dead_letter");
        }
    }

    private void measure(String label, boolean childProcess) throws Exception {
        JdbcTransport consumer = JdbcTransport.builder(BenchSupport.postgres()).tablePrefix(prefix)
                .schemaMode(SchemaMode.ALWAYS).build();
        String stream = "latency-" + UUID.randomUUID().toString().substring(0, 8);
        long skip = (long) warmup * rate;
        long total = skip + (long) seconds * rate;
        Recorder recorder = new Recorder(3);
        AtomicLong received = new AtomicLong();
        TransportSubscription sub = consumer.subscribe(new SubscriptionRequest("bench", stream, Set.of(), 1, true),
                d -> {
                    long now = micros(Instant.now());
                    ByteBuffer b = ByteBuffer.wrap(d.message().body());
                    long due = b.getLong();
                    long index = b.getLong();
                    if (index >= skip) {
                        recorder.recordValue(Math.max(0, now - due));
                    }
                    received.incrementAndGet();
                    return Outcome.ack();
                });
        try {
            if (childProcess) {
                String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
                Process p = new ProcessBuilder(List.of(java, "-Drate=" + rate, "-Dtotal=" + total, "-cp",
                        System.getProperty("java.class.path"), JdbcTransportLatency.class.getName(), "--send", prefix,
                        stream, Integer.toString(rate))).inheritIO().start();
                if (!p.waitFor(warmup + seconds + 120L, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException("the sending process did not finish");
                }
            } else {
                JdbcTransport sender = JdbcTransport.builder(BenchSupport.postgres()).tablePrefix(prefix).build();
                try {
                    drive(sender, stream, rate, total);
                } finally {
                    sender.close(Duration.ofSeconds(10));
                }
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (received.get() < total && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            if (received.get() < total) {
                throw new IllegalStateException("only " + received.get() + " of " + total + " events arrived");
            }
            Histogram h = recorder.getIntervalHistogram();
            System.out.printf("%s: %,d events, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms%n",
                    label, h.getTotalCount(), h.getValueAtPercentile(50) / 1e3, h.getValueAtPercentile(90) / 1e3,
                    h.getValueAtPercentile(99) / 1e3, h.getValueAtPercentile(99.9) / 1e3, h.getMaxValue() / 1e3);
        } finally {
            sub.close(Duration.ofSeconds(10));
            consumer.close(Duration.ofSeconds(10));
        }
    }

    /** The anchor: INSERT + pg_notify + commit per event on one connection, a plain listener on another. */
    private void raw() throws Exception {
        javax.sql.DataSource ds = BenchSupport.postgres();
        String table = prefix + "raw";
        String channel = (prefix + "raw").toLowerCase(java.util.Locale.ROOT);
        long skip = (long) warmup * rate;
        long total = skip + (long) seconds * rate;
        Recorder recorder = new Recorder(3);
        AtomicLong received = new AtomicLong();
        try (java.sql.Connection listen = ds.getConnection(); java.sql.Connection send = ds.getConnection()) {
            try (java.sql.Statement st = send.createStatement()) {
                st.execute("CREATE TABLE " + table + " (id BIGSERIAL PRIMARY KEY, body BYTEA NOT NULL)");
            }
            try (java.sql.Statement st = listen.createStatement()) {
                st.execute("LISTEN " + channel);
            }
            org.postgresql.PGConnection pg = listen.unwrap(org.postgresql.PGConnection.class);
            Thread listener = new Thread(() -> {
                try {
                    while (received.get() < total) {
                        org.postgresql.PGNotification[] ns = pg.getNotifications(500);
                        if (ns == null) {
                            continue;
                        }
                        long now = micros(Instant.now());
                        for (org.postgresql.PGNotification n : ns) {
                            String[] p = n.getParameter().split(":");
                            if (Long.parseLong(p[1]) >= skip) {
                                recorder.recordValue(Math.max(0, now - Long.parseLong(p[0])));
                            }
                            received.incrementAndGet();
                        }
                    }
                } catch (java.sql.SQLException e) {
                    throw new IllegalStateException(e);
                }
            }, "raw-listener");
            listener.start();
            try (java.sql.Statement st = send.createStatement()) {
                st.execute("SET synchronous_commit = off");
            }
            send.setAutoCommit(false);
            try (java.sql.PreparedStatement ins = send.prepareStatement("INSERT INTO " + table + " (body) VALUES (?)");
                 java.sql.PreparedStatement notify = send.prepareStatement("SELECT pg_notify(?, ?)")) {
                long interval = 1_000_000_000L / rate;
                long[] pair = clockPair();
                long startNanos = pair[0] + 20_000_000;
                long startMicros = pair[1] + 20_000;
                byte[] body = new byte[200];
                for (long i = 0; i < total; i++) {
                    long dueNanos = startNanos + i * interval;
                    long wait;
                    while ((wait = dueNanos - System.nanoTime()) > 0) {
                        LockSupport.parkNanos(Math.min(wait, 200_000));
                    }
                    ins.setBytes(1, body);
                    ins.executeUpdate();
                    notify.setString(1, channel);
                    notify.setString(2, (startMicros + i * interval / 1_000) + ":" + i);
                    notify.executeQuery().close();
                    send.commit();
                }
            }
            listener.join(60_000);
            Histogram h = recorder.getIntervalHistogram();
            System.out.printf("anchor, raw LISTEN/NOTIFY (plain JDBC): %,d events, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms,"
                    + " p99.9 %.2f ms, max %.2f ms%n", h.getTotalCount(), h.getValueAtPercentile(50) / 1e3,
                    h.getValueAtPercentile(90) / 1e3, h.getValueAtPercentile(99) / 1e3,
                    h.getValueAtPercentile(99.9) / 1e3, h.getMaxValue() / 1e3);
        } finally {
            BenchSupport.drop(ds, table);
        }
    }

    /**
     * A (nanoTime, wall-clock micros) pair read as close together as possible: the best of 50 tries. Read once, a
     * preemption between the two reads (likely on a busy machine) would shift every due time and understate the
     * latency measured in another process.
     */
    private static long[] clockPair() {
        long[] best = null;
        long bestGap = Long.MAX_VALUE;
        for (int i = 0; i < 50; i++) {
            long before = System.nanoTime();
            long wall = micros(Instant.now());
            long after = System.nanoTime();
            if (after - before < bestGap) {
                bestGap = after - before;
                best = new long[] {before + (after - before) / 2, wall};
            }
        }
        return best;
    }

    private static long micros(Instant t) {
        return t.getEpochSecond() * 1_000_000L + t.getNano() / 1_000;
    }

    /** Sends {@code total} events at {@code rate}; each body starts with the time it was due and its index. */
    private static void drive(JdbcTransport sender, String stream, int rate, long total) {
        long interval = 1_000_000_000L / rate;
        long[] pair = clockPair();
        long startNanos = pair[0] + 20_000_000;
        long startMicros = pair[1] + 20_000;
        CompletableFuture<Void> last = CompletableFuture.completedFuture(null);
        for (long i = 0; i < total; i++) {
            long dueNanos = startNanos + i * interval;
            long wait;
            while ((wait = dueNanos - System.nanoTime()) > 0) {
                LockSupport.parkNanos(Math.min(wait, 200_000));
            }
            ByteBuffer body = ByteBuffer.allocate(200);
            body.putLong(startMicros + i * interval / 1_000);
            body.putLong(i);
            Map<String, String> h = new LinkedHashMap<>();
            h.put(MessageHeaders.ID, UUID.randomUUID().toString());
            h.put(MessageHeaders.TYPE, "latency.probe");
            h.put(MessageHeaders.SOURCE, "/bench");
            String key = "key-" + (i % 100);
            h.put(MessageHeaders.SUBJECT, key);
            last = sender.send(TransportMessage.of(stream, key, h, body.array()));
        }
        last.join();
    }
}
