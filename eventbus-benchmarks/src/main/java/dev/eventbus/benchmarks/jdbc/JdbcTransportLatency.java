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
import java.time.Duration;
import java.time.LocalDate;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import javax.sql.DataSource;

/**
 * Append-to-handle latency of the JDBC transport on the local PostgreSQL, open loop (see
 * {@code shared/BENCHMARKS.md}): events are sent at a fixed rate, each carrying the time it was due, and the
 * handler records now minus that time in an HdrHistogram, so a stall counts for every event it delays
 * (no coordinated omission).
 *
 * <p>Two set-ups, each after a warm-up: <b>cross-instance</b> (the sender and the consumer are two transport
 * instances, as two services would be: the consumer is woken by PostgreSQL {@code NOTIFY}) and <b>same
 * instance</b> (woken in process). Default settings otherwise ({@code poll-interval} 500ms, commit interval 100ms),
 * 100 keys, one handler thread, ~200-byte bodies.
 *
 * <p>System properties: {@code rate} (1000 events/s), {@code seconds} (30), {@code warmup} (5). Database: env
 * {@code EVENTBUS_TEST_POSTGRES_URL}, default the local server. Run: {@code java -cp
 * eventbus-benchmarks/target/benchmarks.jar dev.eventbus.benchmarks.jdbc.JdbcTransportLatency}.
 */
public final class JdbcTransportLatency {

    private final DataSource ds = BenchSupport.postgres();
    private final String prefix = BenchSupport.prefix("latency");
    private final int rate = Integer.getInteger("rate", 1000);
    private final int seconds = Integer.getInteger("seconds", 30);
    private final int warmup = Integer.getInteger("warmup", 5);

    public static void main(String[] args) throws Exception {
        new JdbcTransportLatency().run();
    }

    private void run() throws Exception {
        System.out.printf("JDBC transport append-to-handle latency on PostgreSQL, %,d events/s for %d s after %d s"
                + " warm-up (%s, 2 cores)%n", rate, seconds, warmup, LocalDate.now());
        try {
            measure("cross-instance (NOTIFY wake-up)", true);
            measure("same instance (in-process wake-up)", false);
        } finally {
            BenchSupport.drop(ds, prefix + "stream", prefix + "log", prefix + "cursor", prefix + "member",
                    prefix + "retry", prefix + "dead_letter");
        }
    }

    private void measure(String label, boolean twoInstances) throws Exception {
        JdbcTransport consumer = JdbcTransport.builder(ds).tablePrefix(prefix).schemaMode(SchemaMode.ALWAYS).build();
        JdbcTransport sender = twoInstances
                ? JdbcTransport.builder(ds).tablePrefix(prefix).schemaMode(SchemaMode.ALWAYS).build() : consumer;
        String stream = "latency-" + UUID.randomUUID().toString().substring(0, 8);
        Recorder recorder = new Recorder(3);
        AtomicLong received = new AtomicLong();
        TransportSubscription sub = consumer.subscribe(new SubscriptionRequest("bench", stream, Set.of(), 1, true),
                d -> {
                    long due = ByteBuffer.wrap(d.message().body()).getLong();
                    recorder.recordValue(Math.max(0, (System.nanoTime() - due) / 1_000));
                    received.incrementAndGet();
                    return Outcome.ack();
                });
        try {
            long sent = drive(sender, stream, warmup);
            waitFor(received, sent);
            recorder.getIntervalHistogram(); // forget the warm-up
            received.set(0);
            sent = drive(sender, stream, seconds);
            waitFor(received, sent);
            Histogram h = recorder.getIntervalHistogram();
            System.out.printf("%s: %,d events, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms%n",
                    label, h.getTotalCount(), h.getValueAtPercentile(50) / 1e3, h.getValueAtPercentile(90) / 1e3,
                    h.getValueAtPercentile(99) / 1e3, h.getValueAtPercentile(99.9) / 1e3, h.getMaxValue() / 1e3);
        } finally {
            sub.close(Duration.ofSeconds(10));
            if (sender != consumer) {
                sender.close(Duration.ofSeconds(10));
            }
            consumer.close(Duration.ofSeconds(10));
        }
    }

    /** Sends at the fixed rate for {@code secs}; each body starts with the nanoTime the event was due. */
    private long drive(JdbcTransport sender, String stream, int secs) {
        long interval = 1_000_000_000L / rate;
        long n = (long) rate * secs;
        long start = System.nanoTime() + 1_000_000;
        for (long i = 0; i < n; i++) {
            long due = start + i * interval;
            long wait;
            while ((wait = due - System.nanoTime()) > 0) {
                LockSupport.parkNanos(Math.min(wait, 200_000));
            }
            ByteBuffer body = ByteBuffer.allocate(200);
            body.putLong(due);
            Map<String, String> h = new LinkedHashMap<>();
            h.put(MessageHeaders.ID, UUID.randomUUID().toString());
            h.put(MessageHeaders.TYPE, "latency.probe");
            h.put(MessageHeaders.SOURCE, "/bench");
            String key = "key-" + (i % 100);
            h.put(MessageHeaders.SUBJECT, key);
            sender.send(TransportMessage.of(stream, key, h, body.array()));
        }
        return n;
    }

    private static void waitFor(AtomicLong received, long n) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (received.get() < n && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        if (received.get() < n) {
            throw new IllegalStateException("only " + received.get() + " of " + n + " events arrived");
        }
    }
}
