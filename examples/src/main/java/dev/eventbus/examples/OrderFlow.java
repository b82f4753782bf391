package dev.eventbus.examples;

import dev.eventbus.DeadLetter;
import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.Subscribe;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

/**
 * The order flow, on whatever transport the configuration names (the in-memory default unless
 * {@code eventbus.transport} says otherwise; see {@code eventbus.properties} beside this class).
 *
 * <ol>
 *   <li>The order service publishes three {@link OrderPlaced} events.</li>
 *   <li>Inventory reserves stock and publishes {@link StockReserved}; the warehouse times out once on the first
 *       order, so that event is retried and succeeds.</li>
 *   <li>Notifications e-mail the customer; one address is malformed, the mailer refuses it every time, and the
 *       event ends in the dead letters. An operator fixes the address book and replays the dead letter.</li>
 * </ol>
 *
 * Exits with status 0 when every step happened, 1 otherwise.
 */
public final class OrderFlow {

    private static final Duration WAIT = Duration.ofSeconds(90);

    private OrderFlow() {
    }

    public static void main(String[] args) throws Exception {
        boolean ok;
        try (EventBus bus = EventBus.fromConfig()) {
            ok = run(bus);
        }
        System.out.println(ok ? "\nDone: every step happened as described." : "\nFAILED: see above.");
        if (!ok) {
            System.exit(1);
        }
    }

    /** Runs the flow on {@code bus}; returns whether every step was observed. */
    public static boolean run(EventBus bus) throws InterruptedException {
        say("Order flow on %s", bus);
        Inventory inventory = new Inventory(bus);
        Notifications notifications = new Notifications();
        Audit audit = new Audit();
        bus.register(inventory);
        bus.register(notifications);
        bus.register(audit);

        say("\n1. The order service places three orders");
        for (OrderPlaced order : List.of(
                new OrderPlaced("order-1", "ada@example.com", "book", 1),
                new OrderPlaced("order-2", "grace@example.com", "lamp", 2),
                new OrderPlaced("order-3", "not-an-email", "desk", 1))) {
            say("   publishing %s", order);
            bus.publish(order).join();
        }

        say("\n2. Inventory reserves stock (the warehouse times out once on order-1: retried)");
        boolean reserved = await(() -> inventory.reserved.size() == 3);
        say("   reserved: %s after %d warehouse timeout(s)", new java.util.TreeSet<>(inventory.reserved),
                inventory.timeouts.get());

        say("\n3. Notifications e-mail the customers (order-3's address is malformed)");
        boolean mailed = await(() -> notifications.sent.size() == 2);
        boolean dead = await(() -> !bus.deadLetters().list("notifications").isEmpty());
        say("   e-mails sent: %s", new java.util.TreeSet<>(notifications.sent));
        List<DeadLetter> letters = bus.deadLetters().list("notifications");
        for (DeadLetter d : letters) {
            say("   dead letter: %s for %s after %d attempt(s): %s", d.type(), d.message().key(), d.attempts(),
                    d.reason());
        }

        say("\n4. An operator fixes the address and replays the dead letter");
        notifications.addressBook.put("not-an-email", "linus@example.com");
        int replayed = bus.deadLetters().replayAll("notifications");
        boolean delivered = await(() -> notifications.sent.contains("order-3 -> linus@example.com"));
        say("   replayed %d; e-mails sent now: %s", replayed, new java.util.TreeSet<>(notifications.sent));

        boolean correlated = await(() -> audit.stockReservedCausedByPlaced.get() == 3);
        say("\n5. Every StockReserved carries its order's correlation id and the OrderPlaced id as causation: %s",
                correlated ? "yes (3 of 3)" : "NO (" + audit.stockReservedCausedByPlaced.get() + " of 3)");
        EventBus.Stats s = bus.stats();
        say("\nStats: published=%d failures=%d retries=%d deadLettered=%d deadEvents=%d", s.published(),
                s.failures(), s.retries(), s.deadLettered(), s.deadEvents());
        return reserved && inventory.timeouts.get() >= 1 && mailed && dead && replayed == 1 && delivered && correlated;
    }

    /** Inventory: reserves stock and announces it. */
    public static final class Inventory {
        final Set<String> reserved = ConcurrentHashMap.newKeySet();
        final AtomicInteger timeouts = new AtomicInteger();
        private final EventBus bus;

        Inventory(EventBus bus) {
            this.bus = bus;
        }

        @Subscribe(group = "inventory")
        void on(OrderPlaced order) {
            if (order.orderId().equals("order-1") && timeouts.get() == 0) {
                timeouts.incrementAndGet();
                say("   inventory: warehouse timed out for %s (will be retried)", order.orderId());
                throw new IllegalStateException("warehouse timed out");
            }
            if (reserved.add(order.orderId())) {
                say("   inventory: reserved %d x %s for %s", order.quantity(), order.sku(), order.orderId());
                bus.publish(new StockReserved(order.orderId(), order.sku(), order.quantity()));
            }
        }
    }

    /** Notifications: e-mails the customer; a malformed address is refused every time. */
    public static final class Notifications {
        final Set<String> sent = ConcurrentHashMap.newKeySet();
        final ConcurrentHashMap<String, String> addressBook = new ConcurrentHashMap<>();

        @Subscribe(group = "notifications")
        void on(OrderPlaced order) {
            String to = addressBook.getOrDefault(order.customerEmail(), order.customerEmail());
            if (!to.contains("@")) {
                throw new IllegalArgumentException("mailer refused address '" + to + "'");
            }
            if (sent.add(order.orderId() + " -> " + to)) {
                say("   notifications: e-mailed %s about %s", to, order.orderId());
            }
        }
    }

    /** Audit: checks the metadata every event carries. */
    public static final class Audit {
        final Set<String> placedIds = ConcurrentHashMap.newKeySet();
        final AtomicInteger stockReservedCausedByPlaced = new AtomicInteger();
        private final Set<String> seen = ConcurrentHashMap.newKeySet();

        @Subscribe(group = "audit")
        void placed(Envelope<OrderPlaced> e) {
            placedIds.add(e.id());
        }

        @Subscribe(group = "audit")
        void reserved(StockReserved event, Envelope<StockReserved> e) {
            if (e.causationId() != null && e.correlationId().equals(e.causationId()) && seen.add(e.id())) {
                stockReservedCausedByPlaced.incrementAndGet();
            }
        }
    }

    private static boolean await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    static void say(String format, Object... args) {
        System.out.println(String.format(format, args));
    }
}
