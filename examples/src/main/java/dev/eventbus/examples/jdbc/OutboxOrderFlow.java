package dev.eventbus.examples.jdbc;

import dev.eventbus.EventBus;
import dev.eventbus.Subscribe;
import dev.eventbus.examples.OrderPlaced;
import dev.eventbus.jdbc.Outbox;
import dev.eventbus.jdbc.OutboxRelay;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;

import static dev.eventbus.examples.jdbc.ExampleDatabase.await;
import static dev.eventbus.examples.jdbc.ExampleDatabase.say;

/**
 * The order flow with a transactional outbox on an H2 file database: each order row and its {@link OrderPlaced}
 * event are written in one transaction, and a relay moves committed events to the transport the configuration
 * names ({@code eventbus.transport}: in memory unless told otherwise, e.g. {@code -Deventbus.transport=jdbc}).
 *
 * <ol>
 *   <li>The order service saves two orders with their events; a third order breaks a business rule after its
 *       event was written, and the transaction rolls back: no order, no event.</li>
 *   <li>The service goes down before its relay ran: the two events wait in the outbox, on disk.</li>
 *   <li>It restarts; the relay delivers exactly the two committed events to shipping, then a new order goes
 *       through at once.</li>
 * </ol>
 *
 * Run it with:
 * <pre>
 * mvn -q -ntp -pl examples -am -DskipTests -Dmaven.javadoc.skip -Dmaven.source.skip package exec:java \
 *     -Dexec.mainClass=dev.eventbus.examples.jdbc.OutboxOrderFlow
 * </pre>
 * Exits with status 0 when every step happened, 1 otherwise.
 */
public final class OutboxOrderFlow {

    private OutboxOrderFlow() {
    }

    /** Shipping ships what was ordered. */
    public static final class Shipping {
        final Set<String> shipped = ConcurrentHashMap.newKeySet();

        @Subscribe(group = "shipping")
        void on(OrderPlaced order) {
            shipped.add(order.orderId());
            say("   shipping: packing %d x %s for %s", order.quantity(), order.sku(), order.orderId());
        }
    }

    public static void main(String[] args) throws Exception {
        ExampleDatabase db = new ExampleDatabase("shop");
        String transport = ExampleDatabase.configuredTransport();
        if (transport.equals("jdbc") && System.getProperty(dev.eventbus.jdbc.JdbcConfig.URL) == null) {
            System.setProperty(dev.eventbus.jdbc.JdbcConfig.URL, db.url); // the transport's log beside the orders
        }
        say("Outbox order flow: H2 file database in %s, events relayed to the '%s' transport", db.dir, transport);
        db.execute("CREATE TABLE orders (id VARCHAR(50) PRIMARY KEY, sku VARCHAR(50), quantity INT)");

        say("\n1. The order service saves orders, each with its event, in one transaction");
        try (EventBus bus = EventBus.fromConfig()) {
            Outbox outbox = Outbox.builder(db.dataSource).bus(bus).build();
            placeOrder(db, outbox, new OrderPlaced("order-1", "ada@example.com", "book", 1));
            placeOrder(db, outbox, new OrderPlaced("order-2", "grace@example.com", "lamp", 2));
            placeOrder(db, outbox, new OrderPlaced("order-3", "linus@example.com", "desk", 0));
            try (Connection c = db.dataSource.getConnection()) {
                say("   outbox now: %s", outbox.countByStatus(c));
            }
            say("\n2. The service goes down before its relay ran (the events wait on disk)");
        }

        say("\n3. The service restarts; its relay sends what was committed");
        boolean delivered;
        boolean nothingElse;
        boolean live;
        Map<String, Long> statuses;
        Shipping shipping = new Shipping();
        try (EventBus bus = EventBus.fromConfig();
             OutboxRelay relay = OutboxRelay.builder(db.dataSource, bus.transport(transport))
                     .pollInterval(Duration.ofMillis(100)).build()) {
            bus.register(shipping);
            Outbox outbox = Outbox.builder(db.dataSource).bus(bus).build();
            delivered = await(() -> shipping.shipped.containsAll(Set.of("order-1", "order-2")), Duration.ofSeconds(60));
            Thread.sleep(500);
            nothingElse = shipping.shipped.equals(Set.of("order-1", "order-2"));
            say("   shipped after the restart: %s", new TreeSet<>(shipping.shipped));

            say("\n4. A new order while the relay runs goes out at once");
            placeOrder(db, outbox, new OrderPlaced("order-4", "barbara@example.com", "chair", 4));
            relay.wakeUp();
            live = await(() -> shipping.shipped.contains("order-4"), Duration.ofSeconds(30));
            await(() -> relay.stats().published() == 3, Duration.ofSeconds(10));
            try (Connection c = db.dataSource.getConnection()) {
                statuses = outbox.countByStatus(c);
            }
            say("   outbox now: %s (published rows are deleted after eventbus.jdbc.outbox.retention)", statuses);
        }
        boolean ok = delivered && nothingElse && live && statuses.equals(Map.of("published", 3L));
        db.delete();
        say(ok ? "\nDone: every committed order was shipped once, the rolled-back one never."
                : "\nFAILED: see above.");
        if (!ok) {
            System.exit(1);
        }
    }

    /** One transaction: the order row and its event. An order of nothing breaks a rule and rolls back both. */
    static void placeOrder(ExampleDatabase db, Outbox outbox, OrderPlaced order) throws SQLException {
        try (Connection c = db.dataSource.getConnection()) {
            c.setAutoCommit(false);
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO orders (id, sku, quantity) VALUES (?, ?, ?)")) {
                ps.setString(1, order.orderId());
                ps.setString(2, order.sku());
                ps.setInt(3, order.quantity());
                ps.executeUpdate();
            }
            outbox.publish(order, c);
            if (order.quantity() <= 0) {
                c.rollback();
                say("   %s: quantity %d is not allowed, rolled back (order and event)", order.orderId(),
                        order.quantity());
                return;
            }
            c.commit();
            say("   %s: saved with its OrderPlaced event", order.orderId());
        }
    }
}
