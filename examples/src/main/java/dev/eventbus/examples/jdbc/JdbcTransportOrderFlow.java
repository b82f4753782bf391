package dev.eventbus.examples.jdbc;

import dev.eventbus.EventBus;
import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayResult;
import dev.eventbus.Subscribe;
import dev.eventbus.examples.OrderFlow;
import dev.eventbus.examples.OrderPlaced;
import dev.eventbus.jdbc.JdbcConfig;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.eventbus.examples.jdbc.ExampleDatabase.await;
import static dev.eventbus.examples.jdbc.ExampleDatabase.say;

/**
 * The order flow over the JDBC transport alone, the durable embedded default: no broker, an H2 file database
 * holds the events ({@code eventbus.transport=jdbc}, {@code eventbus.jdbc.url}).
 *
 * <ol>
 *   <li>The order service publishes three orders while shipping is not running, then goes down.</li>
 *   <li>Everything restarts on the same database file: shipping receives the three orders published before the
 *       restart. Then the shipping group is replayed from the beginning ({@code bus.replay}): it handles the three
 *       orders again, and ships nothing twice, since its handler is idempotent.</li>
 *   <li>The full order flow (retry, dead letter, replay) then runs on the JDBC transport.</li>
 * </ol>
 *
 * Run it with:
 * <pre>
 * mvn -q -ntp -pl examples -am -DskipTests -Dmaven.javadoc.skip -Dmaven.source.skip package exec:java \
 *     -Dexec.mainClass=dev.eventbus.examples.jdbc.JdbcTransportOrderFlow
 * </pre>
 * Exits with status 0 when every step happened, 1 otherwise.
 */
public final class JdbcTransportOrderFlow {

    private JdbcTransportOrderFlow() {
    }

    /** Shipping ships what was ordered. */
    public static final class Shipping {
        final Set<String> shipped = ConcurrentHashMap.newKeySet();
        final AtomicInteger handled = new AtomicInteger();

        @Subscribe(group = "shipping")
        void on(OrderPlaced order) {
            handled.incrementAndGet();
            if (shipped.add(order.orderId())) { // idempotent: a replayed order is not packed twice
                say("   shipping: packing %d x %s for %s", order.quantity(), order.sku(), order.orderId());
            }
        }
    }

    public static void main(String[] args) throws Exception {
        ExampleDatabase db = new ExampleDatabase("bus");
        System.setProperty("eventbus.transport", "jdbc");
        System.setProperty(JdbcConfig.URL, db.url);
        System.setProperty(JdbcConfig.POLL_INTERVAL, "200ms");
        say("JDBC transport order flow: events kept in the H2 file database in %s", db.dir);

        say("\n1. The order service publishes three orders; shipping is not running");
        try (EventBus bus = EventBus.fromConfig()) {
            for (OrderPlaced order : List.of(
                    new OrderPlaced("order-1", "ada@example.com", "book", 1),
                    new OrderPlaced("order-2", "grace@example.com", "lamp", 2),
                    new OrderPlaced("order-3", "linus@example.com", "desk", 1))) {
                bus.publish(order).join(); // completes once the event is committed to the log
                say("   published %s", order.orderId());
            }
            say("   the service goes down");
        }

        say("\n2. Restart on the same database: shipping gets what was published before");
        boolean afterRestart;
        boolean flow;
        try (EventBus bus = EventBus.fromConfig()) {
            Shipping shipping = new Shipping();
            bus.register(shipping);
            afterRestart = await(() -> shipping.shipped.size() == 3, Duration.ofSeconds(60));
            say("   shipped after the restart: %s", new TreeSet<>(shipping.shipped));

            ReplayResult replay = bus.replay("shipping", ReplayFrom.beginning());
            say("   replaying group 'shipping' from the beginning: %d partitions moved back to sequence %d",
                    replay.moves().size(), replay.moves().get(0).newPosition());
            afterRestart &= await(() -> shipping.handled.get() == 6, Duration.ofSeconds(60));
            say("   handled %d times, shipped %s: each order handled again, none shipped twice",
                    shipping.handled.get(), new TreeSet<>(shipping.shipped));
            afterRestart &= shipping.shipped.size() == 3;
        }

        say("\n3. The full order flow on the JDBC transport (tables of its own: a new group reads a stream from"
                + " its earliest retained event, so it would otherwise see the orders above too)");
        System.setProperty(JdbcConfig.TABLE_PREFIX, "flow_");
        try (EventBus bus = EventBus.fromConfig()) {
            flow = OrderFlow.run(bus);
        }
        boolean ok = afterRestart && flow;
        db.delete();
        say(ok ? "\nDone: events published before the restart were delivered after it and replayed, and the flow ran."
                : "\nFAILED: see above.");
        if (!ok) {
            System.exit(1);
        }
    }
}
