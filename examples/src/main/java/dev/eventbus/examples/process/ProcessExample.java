package dev.eventbus.examples.process;

import dev.eventbus.EventBus;
import dev.eventbus.Subscribe;
import dev.eventbus.examples.process.Messages.ChargePayment;
import dev.eventbus.examples.process.Messages.EmailVerified;
import dev.eventbus.examples.process.Messages.OrderCancelled;
import dev.eventbus.examples.process.Messages.OrderConfirmed;
import dev.eventbus.examples.process.Messages.OrderPlaced;
import dev.eventbus.examples.process.Messages.OrderShipped;
import dev.eventbus.examples.process.Messages.OutOfStock;
import dev.eventbus.examples.process.Messages.PaymentCharged;
import dev.eventbus.examples.process.Messages.PaymentDeclined;
import dev.eventbus.examples.process.Messages.ProfileCompleted;
import dev.eventbus.examples.process.Messages.ReleaseStock;
import dev.eventbus.examples.process.Messages.ReserveStock;
import dev.eventbus.examples.process.Messages.ShipOrder;
import dev.eventbus.examples.process.Messages.StockReserved;
import dev.eventbus.examples.process.Messages.UserActivated;
import dev.eventbus.examples.process.Messages.UserRegistered;
import dev.eventbus.jdbc.JdbcProcessStore;
import dev.eventbus.jdbc.Outbox;
import dev.eventbus.jdbc.OutboxRelay;
import dev.eventbus.jdbc.SchemaMode;
import dev.eventbus.process.AggregatorDefinition;
import dev.eventbus.process.InMemoryProcessStore;
import dev.eventbus.process.ProcessManager;
import dev.eventbus.process.ProcessStatus;
import dev.eventbus.process.ProcessStore;
import dev.eventbus.process.ProcessView;
import dev.eventbus.process.SagaDefinition;
import org.h2.jdbcx.JdbcDataSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;

/**
 * An order saga (reserve stock, charge payment, ship) where the second order's payment is declined and its stock is
 * released, and a user-activation aggregator ({@code UserRegistered} + {@code EmailVerified} +
 * {@code ProfileCompleted} make one {@code UserActivated}, whatever the order and however often each arrives).
 *
 * <p>By default the process state is in memory ({@link InMemoryProcessStore}). With {@code -Dprocesses.store=jdbc}
 * it is in an H2 file database ({@code -Dprocesses.jdbc.url=...} for another one), committed together with the
 * commands in the transactional outbox, which a relay hands to the bus's transport
 * ({@code eventbus.transport}, in memory unless configured). Exits 0 when everything happened as described.
 *
 * <pre>
 * mvn -pl examples exec:java -Dexec.mainClass=dev.eventbus.examples.process.ProcessExample
 * mvn -pl examples exec:java -Dexec.mainClass=dev.eventbus.examples.process.ProcessExample -Dprocesses.store=jdbc
 * </pre>
 */
public final class ProcessExample {

    static final SagaDefinition<OrderPlaced> ORDER_SAGA =
            SagaDefinition.builder("order-saga", OrderPlaced.class, OrderPlaced::orderId)
                    .step("reserve-stock", o -> new ReserveStock(o.orderId(), o.sku(), o.quantity()))
                    .completedBy(StockReserved.class, StockReserved::orderId)
                    .failedBy(OutOfStock.class, OutOfStock::orderId)
                    .compensateWith(o -> new ReleaseStock(o.orderId(), o.sku(), o.quantity()))
                    .timeout(Duration.ofSeconds(30))
                    .step("charge-payment", o -> new ChargePayment(o.orderId(), o.amountCents()))
                    .completedBy(PaymentCharged.class, PaymentCharged::orderId)
                    .failedBy(PaymentDeclined.class, PaymentDeclined::orderId)
                    .timeout(Duration.ofSeconds(30))
                    .step("ship", o -> new ShipOrder(o.orderId()))
                    .completedBy(OrderShipped.class, OrderShipped::orderId)
                    .onCompleted(o -> new OrderConfirmed(o.orderId()))
                    .onCompensated(o -> new OrderCancelled(o.orderId()))
                    .build();

    static final AggregatorDefinition USER_ACTIVATION = AggregatorDefinition.builder("user-activation")
            .collect(UserRegistered.class, UserRegistered::userId)
            .collect(EmailVerified.class, EmailVerified::userId)
            .collect(ProfileCompleted.class, ProfileCompleted::userId)
            .onComplete(parts -> new UserActivated(parts.id(), parts.get(UserRegistered.class).email(),
                    parts.get(ProfileCompleted.class).displayName()))
            .build();

    private ProcessExample() {
    }

    public static void main(String[] args) throws Exception {
        boolean jdbc = "jdbc".equalsIgnoreCase(System.getProperty("processes.store", "memory").trim());
        boolean ok;
        try (EventBus bus = EventBus.fromConfig()) {
            ok = jdbc ? onJdbc(bus) : run(bus, new InMemoryProcessStore());
        }
        System.out.println(ok ? "\nDone: every step happened as described." : "\nFAILED: see above.");
        if (!ok) {
            System.exit(1);
        }
    }

    private static boolean onJdbc(EventBus bus) throws Exception {
        Path dir = null;
        String url = System.getProperty("processes.jdbc.url");
        if (url == null) {
            dir = Files.createTempDirectory("eventbus-processes-");
            url = "jdbc:h2:file:" + dir.resolve("processes") + ";WRITE_DELAY=0";
        }
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL(url);
        say("Process state in %s", url);
        Outbox outbox = Outbox.builder(ds).bus(bus).schemaMode(SchemaMode.ALWAYS).build();
        JdbcProcessStore store = JdbcProcessStore.builder(ds).outbox(outbox).schemaMode(SchemaMode.ALWAYS).build();
        String transport = System.getProperty("eventbus.transport", "memory");
        try (OutboxRelay relay = OutboxRelay.builder(ds, bus.transport(transport)).schemaMode(SchemaMode.ALWAYS)
                .pollInterval(Duration.ofMillis(50)).build()) {
            return run(bus, store);
        } finally {
            if (dir != null) {
                try (var files = Files.walk(dir)) {
                    files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
                }
            }
        }
    }

    /** Runs both processes on {@code bus} with {@code store}; true when everything happened as described. */
    public static boolean run(EventBus bus, ProcessStore store) throws InterruptedException {
        say("Processes on %s, state in %s", bus, store);
        List<Object> seen = new CopyOnWriteArrayList<>();
        bus.register(new Inventory(bus, seen));
        bus.register(new Payments(bus, seen));
        bus.register(new Shipping(bus, seen));
        bus.register(new Outcomes(seen));
        try (ProcessManager processes = ProcessManager.builder(bus, store).saga(ORDER_SAGA).aggregator(USER_ACTIVATION)
                .build()) {
            say("\n1. Two orders; the payment service declines the second (over its limit)");
            bus.publish(new OrderPlaced("order-1", "book", 1, 2_500));
            bus.publish(new OrderPlaced("order-2", "piano", 1, 950_000));

            say("\n2. A user signs up; the events arrive out of order, one of them twice");
            bus.publish(new ProfileCompleted("user-7", "Ada"));
            bus.publish(new EmailVerified("user-7"));
            bus.publish(new EmailVerified("user-7"));
            bus.publish(new UserRegistered("user-7", "ada@example.com"));

            boolean done = await(() -> finished(processes, "order-saga", "order-1")
                    && finished(processes, "order-saga", "order-2")
                    && finished(processes, "user-activation", "user-7")
                    && seen.contains(new OrderCancelled("order-2")) && seen.contains(new OrderConfirmed("order-1"))
                    && seen.stream().anyMatch(UserActivated.class::isInstance));

            say("\n3. Where is each process?");
            for (String[] p : new String[][] {{"order-saga", "order-1"}, {"order-saga", "order-2"},
                    {"user-activation", "user-7"}}) {
                ProcessView v = processes.status(p[0], p[1]).orElseThrow();
                say("   %s %s: %s, completed %s, compensated %s", p[0], p[1], v.status(), v.completed(),
                        v.compensated());
                v.history().forEach(h -> say("      %s", h));
            }
            ProcessView one = processes.status("order-saga", "order-1").orElseThrow();
            ProcessView two = processes.status("order-saga", "order-2").orElseThrow();
            ProcessView user = processes.status("user-activation", "user-7").orElseThrow();
            return done
                    && one.status() == ProcessStatus.COMPLETED
                    && two.status() == ProcessStatus.COMPENSATED
                    && two.compensated().equals(List.of("reserve-stock"))
                    && seen.contains(new ReleaseStock("order-2", "piano", 1))
                    && seen.stream().filter(ShipOrder.class::isInstance).count() == 1
                    && user.status() == ProcessStatus.COMPLETED
                    && seen.stream().filter(UserActivated.class::isInstance).count() == 1;
        }
    }

    private static boolean finished(ProcessManager m, String type, String id) {
        return m.status(type, id).map(v -> v.status().isFinished()).orElse(false);
    }

    /** The stock service. */
    public static final class Inventory {
        private final EventBus bus;
        private final List<Object> seen;

        Inventory(EventBus bus, List<Object> seen) {
            this.bus = bus;
            this.seen = seen;
        }

        @Subscribe(group = "inventory")
        void on(ReserveStock c) {
            seen.add(c);
            say("   inventory: reserved %d x %s for %s", c.quantity(), c.sku(), c.orderId());
            bus.publish(new StockReserved(c.orderId()));
        }

        @Subscribe(group = "inventory")
        void on(ReleaseStock c) {
            seen.add(c);
            say("   inventory: released %d x %s of %s (compensation)", c.quantity(), c.sku(), c.orderId());
        }
    }

    /** The payment service: declines anything over 1,000.00. */
    public static final class Payments {
        private final EventBus bus;
        private final List<Object> seen;

        Payments(EventBus bus, List<Object> seen) {
            this.bus = bus;
            this.seen = seen;
        }

        @Subscribe(group = "payments")
        void on(ChargePayment c) {
            seen.add(c);
            if (c.amountCents() > 100_000) {
                say("   payments: declined %s (%.2f is over the limit)", c.orderId(), c.amountCents() / 100.0);
                bus.publish(new PaymentDeclined(c.orderId(), "over the limit"));
            } else {
                say("   payments: charged %.2f for %s", c.amountCents() / 100.0, c.orderId());
                bus.publish(new PaymentCharged(c.orderId()));
            }
        }
    }

    /** The shipping service. */
    public static final class Shipping {
        private final EventBus bus;
        private final List<Object> seen;

        Shipping(EventBus bus, List<Object> seen) {
            this.bus = bus;
            this.seen = seen;
        }

        @Subscribe(group = "shipping")
        void on(ShipOrder c) {
            seen.add(c);
            say("   shipping: shipped %s", c.orderId());
            bus.publish(new OrderShipped(c.orderId()));
        }
    }

    /** Whoever listens to the processes' outcomes. */
    public static final class Outcomes {
        private final List<Object> seen;

        Outcomes(List<Object> seen) {
            this.seen = seen;
        }

        @Subscribe(group = "outcomes")
        void on(OrderConfirmed e) {
            seen.add(e);
            say("   outcome: %s confirmed", e.orderId());
        }

        @Subscribe(group = "outcomes")
        void on(OrderCancelled e) {
            seen.add(e);
            say("   outcome: %s cancelled", e.orderId());
        }

        @Subscribe(group = "outcomes")
        void on(UserActivated e) {
            seen.add(e);
            say("   outcome: %s activated (%s, %s)", e.userId(), e.displayName(), e.email());
        }
    }

    private static boolean await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
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
