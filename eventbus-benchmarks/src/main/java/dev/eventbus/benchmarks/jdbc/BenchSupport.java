package dev.eventbus.benchmarks.jdbc;

import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.postgresql.ds.PGSimpleDataSource;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;

/** What the JDBC harnesses share: the local PostgreSQL, a 200-byte event, a no-op target, medians. */
final class BenchSupport {

    private BenchSupport() {
    }

    static final String PG_URL = env("EVENTBUS_TEST_POSTGRES_URL", "jdbc:postgresql://127.0.0.1:5432/test?user=postgres");

    private static String env(String name, String def) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? def : (v.startsWith("jdbc:") ? v : "jdbc:" + v);
    }

    static DataSource postgres() {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setURL(PG_URL);
        try (Connection c = ds.getConnection()) {
            c.isValid(5);
        } catch (SQLException e) {
            throw new IllegalStateException("PostgreSQL is not reachable at " + PG_URL + " (" + e.getMessage()
                    + "); start it with `pg_ctlcluster 15 main start` or set EVENTBUS_TEST_POSTGRES_URL", e);
        }
        return ds;
    }

    static String prefix(String what) {
        return "bench_" + what + "_" + UUID.randomUUID().toString().substring(0, 6) + "_";
    }

    /** An order event as the bus would send it: CloudEvents headers plus a ~200-byte JSON body. */
    static TransportMessage orderMessage(String stream, String key, int n) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, UUID.randomUUID().toString());
        h.put(MessageHeaders.SPECVERSION, MessageHeaders.SPEC_VERSION_1_0);
        h.put(MessageHeaders.TYPE, "order.placed");
        h.put(MessageHeaders.SOURCE, "/bench");
        h.put(MessageHeaders.TIME, Instant.now().toString());
        h.put(MessageHeaders.SUBJECT, key);
        h.put(MessageHeaders.DATACONTENTTYPE, "application/json");
        h.put(MessageHeaders.SCHEMA_VERSION, "1");
        String body = "{\"orderId\":\"" + key + "\",\"customerEmail\":\"customer-" + n + "@example.com\","
                + "\"sku\":\"sku-000123\",\"quantity\":3,\"note\":\"" + "x".repeat(100) + "\"}";
        return TransportMessage.of(stream, key, h, body.getBytes(StandardCharsets.UTF_8));
    }

    static void drop(DataSource ds, String... tables) {
        try (Connection c = ds.getConnection(); Statement s = c.createStatement()) {
            for (String t : tables) {
                s.execute(t.endsWith("_status") ? "DROP VIEW IF EXISTS " + t : "DROP TABLE IF EXISTS " + t);
            }
        } catch (SQLException e) {
            System.err.println("could not drop " + Arrays.toString(tables) + ": " + e.getMessage());
        }
    }

    static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** A target that accepts everything at once and counts: the relay's own cost, nothing else's. */
    static final class NoopTransport implements Transport {
        final LongAdder sent = new LongAdder();
        private static final CompletableFuture<Void> DONE = CompletableFuture.completedFuture(null);

        @Override
        public String name() {
            return "noop";
        }

        @Override
        public Set<Capability> capabilities() {
            return Set.of();
        }

        @Override
        public CompletableFuture<Void> send(TransportMessage message) {
            sent.increment();
            return DONE;
        }

        @Override
        public TransportSubscription subscribe(SubscriptionRequest request, MessageHandler handler) {
            throw new UnsupportedOperationException("no-op target");
        }

        @Override
        public void close(Duration timeout) {
        }
    }
}
