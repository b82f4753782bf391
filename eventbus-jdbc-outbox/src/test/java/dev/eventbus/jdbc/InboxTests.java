package dev.eventbus.jdbc;

import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.InMemoryTransport;
import dev.eventbus.PublishOptions;
import dev.eventbus.Subscribe;
import dev.eventbus.spi.TransportMessage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import javax.sql.DataSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The inbox against a real database: a redelivered event's side effects happen once, a failed handler leaves
 * nothing behind, concurrent duplicates run once, expired records go in batches; and the same through a bus.
 */
abstract class InboxTests {

    abstract DataSource dataSource();

    abstract String prefix();

    private Inbox inbox;

    @BeforeEach
    void setUp() throws SQLException {
        inbox = Inbox.builder(dataSource()).tablePrefix(prefix()).schemaMode(SchemaMode.ALWAYS).build();
        try (Connection c = dataSource().getConnection(); Statement s = c.createStatement()) {
            try {
                s.execute("CREATE TABLE " + stock() + " (order_id VARCHAR(50) NOT NULL, quantity INTEGER NOT NULL)");
            } catch (SQLException exists) {
                // made by an earlier test of this class
            }
            s.executeUpdate("DELETE FROM " + stock());
            s.executeUpdate("DELETE FROM " + prefix() + "inbox");
        }
    }

    @AfterEach
    void tearDown() {
        inbox.close();
    }

    String stock() {
        return prefix() + "stock";
    }

    int stockRows() throws SQLException {
        try (Connection c = dataSource().getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM " + stock())) {
            rs.next();
            return rs.getInt(1);
        }
    }

    void reserve(Connection c, String order) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + stock() + " (order_id, quantity) VALUES (?, 1)")) {
            ps.setString(1, order);
            ps.executeUpdate();
        }
    }

    @Test
    void theSameEventDeliveredThreeTimesChangesTheTableOnce() throws Exception {
        String eventId = UUID.randomUUID().toString();
        List<Boolean> ran = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            ran.add(inbox.handleOnce("inventory", "Inventory#on", eventId, c -> reserve(c, "o-1")));
        }
        assertThat(ran).containsExactly(true, false, false);
        assertThat(stockRows()).isEqualTo(1);
        assertThat(inbox.handled()).isEqualTo(1);
        assertThat(inbox.duplicates()).isEqualTo(2);
        // Another subscriber of the same group, and the same subscriber in another group, each handle it once.
        assertThat(inbox.handleOnce("inventory", "Audit#on", eventId, c -> reserve(c, "o-1-audit"))).isTrue();
        assertThat(inbox.handleOnce("billing", "Inventory#on", eventId, c -> reserve(c, "o-1-billing"))).isTrue();
        assertThat(stockRows()).isEqualTo(3);
    }

    @Test
    void aFailedHandlerLeavesNeitherItsWorkNorTheRecord() throws Exception {
        String eventId = UUID.randomUUID().toString();
        assertThatThrownBy(() -> inbox.handleOnce("inventory", "Inventory#on", eventId, c -> {
            reserve(c, "o-2");
            throw new IllegalStateException("warehouse timed out");
        })).isInstanceOf(IllegalStateException.class).hasMessage("warehouse timed out");
        assertThat(stockRows()).isZero();
        assertThat(inbox.handleOnce("inventory", "Inventory#on", eventId, c -> reserve(c, "o-2")))
                .as("the retry runs it again").isTrue();
        assertThat(stockRows()).isEqualTo(1);
    }

    @Test
    void concurrentDuplicatesRunOnce() throws Exception {
        String eventId = UUID.randomUUID().toString();
        AtomicInteger runs = new AtomicInteger();
        CountDownLatch bothStarted = new CountDownLatch(2);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                results.add(pool.submit(() -> {
                    bothStarted.countDown();
                    bothStarted.await(5, TimeUnit.SECONDS);
                    return inbox.handleOnce("inventory", "Inventory#on", eventId, c -> {
                        runs.incrementAndGet();
                        reserve(c, "o-3");
                        Thread.sleep(300);
                    });
                }));
            }
            int ran = 0;
            for (Future<Boolean> f : results) {
                ran += f.get(30, TimeUnit.SECONDS) ? 1 : 0;
            }
            assertThat(ran).isEqualTo(1);
        } finally {
            pool.shutdownNow();
        }
        assertThat(runs.get()).isEqualTo(1);
        assertThat(stockRows()).isEqualTo(1);
        assertThat(inbox.duplicates()).isEqualTo(1);
    }

    @Test
    void theConnectionIsOnlyAvailableInsideAHandler() throws Exception {
        assertThatThrownBy(Inbox::connection).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("only available inside a subscriber");
        inbox.handleOnce("g", "s", UUID.randomUUID().toString(), c -> assertThat(Inbox.connection()).isSameAs(c));
        assertThatThrownBy(Inbox::connection).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void expiredRecordsAreDeletedInBatches() throws Exception {
        long old = System.currentTimeMillis() - Duration.ofDays(8).toMillis();
        try (Connection c = dataSource().getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + prefix()
                    + "inbox (consumer, event_id, handled_at) VALUES (?, ?, ?)")) {
                for (int i = 0; i < 2_500; i++) {
                    ps.setString(1, "g/s");
                    ps.setString(2, "old-" + i);
                    ps.setLong(3, old);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            c.commit();
        }
        inbox.handleOnce("g", "s", "recent", c -> { });
        assertThat(inbox.purgeExpired()).isEqualTo(2_500);
        assertThat(inbox.handleOnce("g", "s", "recent", c -> { })).as("recent records stay").isFalse();
        assertThat(inbox.handleOnce("g", "s", "old-7", c -> { })).as("expired ones are forgotten").isTrue();
    }

    /** The event type the bus-level test publishes. */
    @EventType(name = "inbox.order-placed", stream = "orders")
    record OrderPlaced(String orderId, int quantity) {
    }

    /** A subscriber doing its own database work on the inbox's connection. */
    public final class Inventory {
        final AtomicInteger calls = new AtomicInteger();

        @Subscribe(group = "inventory")
        void on(OrderPlaced e) throws SQLException {
            calls.incrementAndGet();
            reserve(Inbox.connection(), e.orderId());
        }
    }

    @Test
    void throughTheBusARedeliveredEventIsHandledOnce() throws Exception {
        InMemoryTransport memory = new InMemoryTransport();
        Inventory inventory = new Inventory();
        try (EventBus bus = EventBus.builder().service("shop").transport(memory).consumeInterceptor(inbox).build()) {
            bus.register(inventory);
            TransportMessage m = bus.messageFor(new OrderPlaced("o-9", 2), PublishOptions.none());
            for (int i = 0; i < 3; i++) {
                memory.send(m).join(); // the broker delivers the same message three times
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (inbox.handled() + inbox.duplicates() < 3 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
        } finally {
            memory.close();
        }
        assertThat(inbox.handled()).isEqualTo(1);
        assertThat(inbox.duplicates()).isEqualTo(2);
        assertThat(inventory.calls.get()).isEqualTo(1);
        assertThat(stockRows()).isEqualTo(1);
    }
}
