package dev.eventbus.jdbc;

import dev.eventbus.ConfigException;
import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.InMemoryTransport;
import dev.eventbus.Subscribe;
import dev.eventbus.jdbc.internal.DriverManagerDataSource;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportProvider;
import dev.eventbus.testkit.Recorder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The embedded default (H2): durability across a killed process, configuration, and the outbox and transport
 * under a real {@link EventBus}.
 */
class EmbeddedH2Test {

    @TempDir
    Path dir;

    /** Starts {@link CrashingApp} in its own JVM, waits for READY, and kills it with SIGKILL. */
    private static void runAndKill(String... args) throws Exception {
        try (ChildJvm child = ChildJvm.start(CrashingApp.class, args)) {
            child.awaitLine("READY", Duration.ofSeconds(120));
            child.kill(); // SIGKILL: no close, no shutdown hook
        }
    }

    @Test
    void eventsPublishedBeforeAKilledProcessAreDeliveredAfterARestart() throws Exception {
        // No WRITE_DELAY=0 in the URL: the transport must make the file durable by itself.
        String url = "jdbc:h2:file:" + dir.resolve("bus");
        runAndKill("transport", url, "orders", "25");

        try (JdbcTransport t = JdbcTransport.fromConfig(Map.of(JdbcConfig.URL, url))) {
            Recorder rec = new Recorder();
            t.subscribe(new SubscriptionRequest("billing", "orders", Set.of(), 2, true), rec);
            List<Recorder.Received> got = rec.awaitCount(25, Duration.ofSeconds(30));
            assertThat(got).extracting(Recorder.Received::body).hasSize(25).doesNotHaveDuplicates();
        }
    }

    @Test
    void anOrderAndItsEventCommittedBeforeACrashAreRelayedAfterTheRestart() throws Exception {
        String url = "jdbc:h2:file:" + dir.resolve("shop") + ";WRITE_DELAY=0";
        runAndKill("outbox", url, "5");

        DriverManagerDataSource ds = new DriverManagerDataSource(url, null, null);
        try (Connection c = ds.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM orders")) {
            rs.next();
            assertThat(rs.getInt(1)).isEqualTo(5);
        }
        InMemoryTransport memory = new InMemoryTransport();
        Recorder rec = new Recorder();
        memory.subscribe(new SubscriptionRequest("shipping", "orders", Set.of(), 1, true), rec);
        try (OutboxRelay relay = OutboxRelay.builder(ds, memory).build()) {
            assertThat(rec.awaitCount(5, Duration.ofSeconds(30))).extracting(Recorder.Received::body)
                    .containsExactlyInAnyOrder("placed-0", "placed-1", "placed-2", "placed-3", "placed-4");
        } finally {
            memory.close();
        }
    }

    // ------------------------------------------------------------------------------------- the bus on top

    @EventType(name = "shop.order-placed", stream = "orders")
    record OrderPlaced(String orderId, int quantity) {
    }

    static final class Shipping {
        final List<Envelope<OrderPlaced>> got = new CopyOnWriteArrayList<>();

        @Subscribe(group = "shipping")
        void on(OrderPlaced e, Envelope<OrderPlaced> env) {
            got.add(env);
        }
    }

    @Test
    void theBusSelectsTheJdbcTransportByConfiguration() throws Exception {
        Properties p = new Properties();
        p.setProperty("eventbus.service", "shop");
        p.setProperty("eventbus.transport", "jdbc");
        p.setProperty(JdbcConfig.URL, "jdbc:h2:mem:cfg-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        p.setProperty(JdbcConfig.TABLE_PREFIX, "cfg_");
        p.setProperty(JdbcConfig.POLL_INTERVAL, "50ms");
        Shipping shipping = new Shipping();
        try (EventBus bus = EventBus.fromConfig(p)) {
            bus.register(shipping);
            bus.publish(new OrderPlaced("o-1", 2)).join();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (shipping.got.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
        }
        assertThat(shipping.got).hasSize(1);
        assertThat(shipping.got.get(0).event()).isEqualTo(new OrderPlaced("o-1", 2));
        assertThat(shipping.got.get(0).type()).isEqualTo("shop.order-placed");
    }

    @Test
    void theOutboxStoresExactlyWhatTheBusWouldSend() throws Exception {
        DriverManagerDataSource ds = new DriverManagerDataSource(
                "jdbc:h2:mem:bus-outbox-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1", null, null);
        JdbcTransport transport = JdbcContractFixture.fastBuilder(ds, "bus_").build();
        Shipping shipping = new Shipping();
        try (EventBus bus = EventBus.builder().service("shop").transport(transport).build();
             OutboxRelay relay = OutboxRelay.builder(ds, transport).tablePrefix("bus_")
                     .pollInterval(Duration.ofMillis(20)).build()) {
            bus.register(shipping);
            Outbox outbox = Outbox.builder(ds).bus(bus).tablePrefix("bus_").build();
            String eventId;
            try (Connection c = ds.getConnection()) {
                c.setAutoCommit(false);
                outbox.publish(new OrderPlaced("o-7", 3), dev.eventbus.PublishOptions.builder()
                        .header("tenant", "acme").build(), c);
                c.commit();
                try (Statement s = c.createStatement();
                     ResultSet rs = s.executeQuery("SELECT event_id, event_type, msg_key FROM bus_outbox")) {
                    rs.next();
                    eventId = rs.getString(1);
                    assertThat(rs.getString(2)).isEqualTo("shop.order-placed");
                }
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (shipping.got.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(shipping.got).hasSize(1);
            Envelope<OrderPlaced> env = shipping.got.get(0);
            assertThat(env.event()).isEqualTo(new OrderPlaced("o-7", 3));
            assertThat(env.id()).isEqualTo(eventId);
            assertThat(env.source()).contains("shop");
            assertThat(env.headers()).containsEntry("tenant", "acme");
        } finally {
            transport.close();
        }
    }

    // ------------------------------------------------------------------------------------- configuration

    @Test
    void theProviderIsFoundByNameAndListsItsKeys() {
        TransportProvider jdbc = null;
        for (TransportProvider p : ServiceLoader.load(TransportProvider.class)) {
            if (p.name().equals("jdbc")) {
                jdbc = p;
            }
        }
        assertThat(jdbc).isInstanceOf(JdbcTransportProvider.class);
        assertThat(jdbc.configKeys()).contains(JdbcConfig.URL, JdbcConfig.TABLE_PREFIX, JdbcConfig.OUTBOX_BATCH_SIZE,
                JdbcConfig.INBOX_RETENTION);
    }

    @Test
    void badConfigurationFailsAtBuildNamingTheKey() {
        String url = "jdbc:h2:mem:bad-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1";
        Map<String, String> base = new HashMap<>(Map.of(JdbcConfig.URL, url));
        assertThatThrownBy(() -> JdbcTransport.fromConfig(with(base, JdbcConfig.PARTITIONS, "zero")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(JdbcConfig.PARTITIONS)
                .hasMessageContaining("an integer from 1 to 1024");
        assertThatThrownBy(() -> JdbcTransport.fromConfig(with(base, "eventbus.jdbc.tabel-prefix", "x_")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("eventbus.jdbc.tabel-prefix")
                .hasMessageContaining(JdbcConfig.TABLE_PREFIX);
        assertThatThrownBy(() -> JdbcTransport.fromConfig(with(base, JdbcConfig.TABLE_PREFIX, "x; DROP TABLE y")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(JdbcConfig.TABLE_PREFIX);
        assertThatThrownBy(() -> JdbcTransport.fromConfig(with(base, JdbcConfig.START_POSITION, "middle")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("earliest or latest");
        assertThatThrownBy(() -> JdbcTransport.fromConfig(with(with(base, JdbcConfig.LEASE, "1s"),
                JdbcConfig.HEARTBEAT_INTERVAL, "2s")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(JdbcConfig.HEARTBEAT_INTERVAL);
        assertThatThrownBy(() -> JdbcTransport.fromConfig(Map.of(JdbcConfig.URL, "postgres://db/x")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(JdbcConfig.URL)
                .hasMessageContaining("jdbc:");
        assertThatThrownBy(() -> JdbcTransport.fromConfig(Map.of(JdbcConfig.URL,
                "jdbc:postgresql://127.0.0.1:1/none", JdbcConfig.USER, "u", JdbcConfig.PASSWORD, "s3cret-pw")))
                .satisfies(e -> assertThat(String.valueOf(e.getMessage())).doesNotContain("s3cret-pw"));
        assertThatThrownBy(() -> OutboxRelay.builder(new DriverManagerDataSource(url, null, null),
                new TestTarget("t")).config(Map.of(JdbcConfig.OUTBOX_SEND_TIMEOUT, "20s")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(JdbcConfig.OUTBOX_SEND_TIMEOUT);
        assertThatThrownBy(() -> JdbcSchema.ddl(JdbcDialect.H2, "bad name", JdbcSchema.Part.OUTBOX))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("invalid table prefix");
    }

    private static Map<String, String> with(Map<String, String> m, String k, String v) {
        Map<String, String> out = new HashMap<>(m);
        out.put(k, v);
        return out;
    }

    @Test
    void relaysWithDifferentPartitionCountsAreRefused() {
        DriverManagerDataSource ds = new DriverManagerDataSource(
                "jdbc:h2:mem:parts-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1", null, null);
        try (OutboxRelay first = OutboxRelay.builder(ds, new TestTarget("a")).partitions(8).build()) {
            assertThatThrownBy(() -> OutboxRelay.builder(ds, new TestTarget("b")).partitions(16).build())
                    .isInstanceOf(ConfigException.class).hasMessageContaining(JdbcConfig.OUTBOX_PARTITIONS)
                    .hasMessageContaining("8, the partition count the relays");
        }
    }
}
