package dev.eventbus.jdbc;

import dev.eventbus.EventBus;
import dev.eventbus.PublishOptions;
import dev.eventbus.Subscribe;
import dev.eventbus.process.AggregatorDefinition;
import dev.eventbus.process.OutgoingEvent;
import dev.eventbus.process.ProcessConflictException;
import dev.eventbus.process.ProcessInstance;
import dev.eventbus.process.ProcessManager;
import dev.eventbus.process.ProcessStatus;
import dev.eventbus.process.ProcessStore;
import dev.eventbus.process.ProcessView;
import dev.eventbus.process.SagaDefinition;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.BooleanSupplier;
import javax.sql.DataSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.fail;

/** {@link JdbcProcessStore} and sagas on it; run on H2, PostgreSQL and MariaDB by the subclasses. */
abstract class ProcessStoreTests {

    abstract DataSource dataSource();

    abstract String prefix();

    record OrderPlaced(String orderId, int amount) {
    }

    record ReserveStock(String orderId) {
    }

    record StockReserved(String orderId) {
    }

    record ReleaseStock(String orderId) {
    }

    record ChargePayment(String orderId, int amount) {
    }

    record PaymentCharged(String orderId) {
    }

    record PaymentDeclined(String orderId) {
    }

    record ShipOrder(String orderId) {
    }

    record OrderShipped(String orderId) {
    }

    record Note(String text) {
    }

    record Registered(String userId, String email) {
    }

    record Verified(String userId) {
    }

    record Profiled(String userId, String name) {
    }

    record Activated(String userId, String email, String name) {
    }

    static SagaDefinition<OrderPlaced> orderSaga() {
        return SagaDefinition.builder("jdbc-order-saga", OrderPlaced.class, OrderPlaced::orderId)
                .step("reserve-stock", o -> new ReserveStock(o.orderId()))
                .completedBy(StockReserved.class, StockReserved::orderId)
                .compensateWith(o -> new ReleaseStock(o.orderId()))
                .step("charge-payment", o -> new ChargePayment(o.orderId(), o.amount()))
                .completedBy(PaymentCharged.class, PaymentCharged::orderId)
                .failedBy(PaymentDeclined.class, PaymentDeclined::orderId)
                .step("ship", o -> new ShipOrder(o.orderId()))
                .completedBy(OrderShipped.class, OrderShipped::orderId)
                .build();
    }

    /** The stock, payment and shipping services: reply as told, count every command. */
    static final class Services {
        final EventBus bus;
        final List<Object> commands;

        Services(EventBus bus, List<Object> commands) {
            this.bus = bus;
            this.commands = commands;
        }

        @Subscribe(group = "stock")
        void on(ReserveStock c) {
            commands.add(c);
            bus.publish(new StockReserved(c.orderId()));
        }

        @Subscribe(group = "stock")
        void on(ReleaseStock c) {
            commands.add(c);
        }

        @Subscribe(group = "payment")
        void on(ChargePayment c) {
            commands.add(c);
            bus.publish(c.amount() > 100 ? new PaymentDeclined(c.orderId()) : new PaymentCharged(c.orderId()));
        }

        @Subscribe(group = "shipping")
        void on(ShipOrder c) {
            commands.add(c);
            bus.publish(new OrderShipped(c.orderId()));
        }
    }

    private static final java.util.concurrent.atomic.AtomicInteger TESTS = new java.util.concurrent.atomic.AtomicInteger();

    private final List<AutoCloseable> closing = new ArrayList<>();
    /** Each test its own outbox: a relay must not hand one test's leftovers to the next test's bus. */
    private final String outboxPrefix = prefix() + "o" + TESTS.incrementAndGet() + "_";

    @AfterEach
    void closeAll() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
    }

    private <T extends AutoCloseable> T closing(T c) {
        closing.add(c);
        return c;
    }

    private EventBus bus(String service) {
        return closing(EventBus.builder().service(service).build());
    }

    private Outbox outbox(EventBus bus) {
        return Outbox.builder(dataSource()).bus(bus).tablePrefix(outboxPrefix).schemaMode(SchemaMode.ALWAYS).build();
    }

    private JdbcProcessStore store(Outbox outbox) {
        JdbcProcessStore.Builder b = JdbcProcessStore.builder(dataSource()).tablePrefix(prefix())
                .schemaMode(SchemaMode.ALWAYS);
        return (outbox == null ? b : b.outbox(outbox)).build();
    }

    private OutboxRelay relay(Transport target) {
        return closing(OutboxRelay.builder(dataSource(), target).tablePrefix(outboxPrefix).schemaMode(SchemaMode.ALWAYS)
                .pollInterval(Duration.ofMillis(20)).lease(Duration.ofSeconds(3), Duration.ofMillis(300)).sendTimeout(Duration.ofSeconds(1)).build());
    }

    private static String id(String base) {
        return base + "-" + UUID.randomUUID();
    }

    private static ProcessInstance instance(String type, String id, long version, String status, Instant deadline) {
        return new ProcessInstance(type, id, version, status, "{\"v\":" + version + "}", deadline, Instant.now());
    }

    @Test
    void storesFindsAndChecksTheVersion() {
        JdbcProcessStore store = store(null);
        String id = id("p");
        assertThat(store.find("t", id)).isEmpty();
        assertThat(store.commit(instance("t", id, 1, "RUNNING", null), "m1", List.of()))
                .isEqualTo(ProcessStore.CommitResult.COMMITTED);
        assertThatThrownBy(() -> store.commit(instance("t", id, 1, "RUNNING", null), "m2", List.of()))
                .isInstanceOf(ProcessConflictException.class).hasMessageContaining("created concurrently");
        assertThat(store.commit(instance("t", id, 2, "RUNNING", null), "m1", List.of()))
                .isEqualTo(ProcessStore.CommitResult.DUPLICATE);
        assertThat(store.commit(instance("t", id, 2, "COMPLETED", null), "m2", List.of()))
                .isEqualTo(ProcessStore.CommitResult.COMMITTED);
        assertThatThrownBy(() -> store.commit(instance("t", id, 2, "RUNNING", null), "m3", List.of()))
                .isInstanceOf(ProcessConflictException.class).hasMessageContaining("no longer at version 1");

        ProcessInstance found = store.find("t", id).orElseThrow();
        assertThat(found.version()).isEqualTo(2);
        assertThat(found.status()).isEqualTo("COMPLETED");
        assertThat(found.data()).isEqualTo("{\"v\":2}");
        assertThat(store.find("other-type", id)).isEmpty();
    }

    @Test
    void missingTablesAndBadSettingsFailAtBuildSayingWhatToDo() {
        String fresh = prefix() + "missing_";
        assertThatThrownBy(() -> JdbcProcessStore.builder(dataSource()).tablePrefix(fresh)
                .schemaMode(SchemaMode.NEVER).build())
                .isInstanceOf(dev.eventbus.EventBusException.class)
                .hasMessageContaining("table " + fresh + "process does not exist")
                .hasMessageContaining("CREATE TABLE IF NOT EXISTS " + fresh + "process_message");
        assertThatThrownBy(() -> JdbcProcessStore.builder(dataSource())
                .config(Map.of(JdbcConfig.CREATE_SCHEMA, "sometimes")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("eventbus.jdbc.create-schema must be embedded, always or never, was 'sometimes'");
        assertThatThrownBy(() -> JdbcProcessStore.builder(dataSource()).tablePrefix("bad-prefix"))
                .hasMessageContaining("invalid table prefix 'bad-prefix'");
    }

    @Test
    void dueListsUnfinishedProcessesWhoseDeadlinePassed() {
        JdbcProcessStore store = store(null);
        String type = id("due");
        Instant now = Instant.now();
        store.commit(instance(type, "late", 1, "RUNNING", now.minusSeconds(5)), "m", List.of());
        store.commit(instance(type, "later", 1, "RUNNING", now.minusSeconds(1)), "m", List.of());
        store.commit(instance(type, "future", 1, "RUNNING", now.plusSeconds(60)), "m", List.of());
        store.commit(instance(type, "none", 1, "RUNNING", null), "m", List.of());
        store.commit(instance(type, "done", 1, "COMPLETED", now.minusSeconds(9)), "m", List.of());

        assertThat(store.due(List.of(type), now, 10)).extracting(ProcessInstance::id).containsExactly("late", "later");
        assertThat(store.due(List.of(type), now, 1)).extracting(ProcessInstance::id).containsExactly("late");
        assertThat(store.due(List.of("no-such-type"), now, 10)).isEmpty();
    }

    @Test
    void purgeFinishedDeletesOnlyFinishedProcessesAndTheirMessageIds() {
        JdbcProcessStore store = store(null);
        String type = id("purge");
        store.commit(instance(type, "done", 1, "COMPLETED", null), "m", List.of());
        store.commit(instance(type, "compensated", 1, "COMPENSATED", null), "m", List.of());
        store.commit(instance(type, "running", 1, "RUNNING", null), "m", List.of());

        assertThat(store.purgeFinished(Duration.ofHours(1))).isZero(); // too recent
        assertThat(store.purgeFinished(Duration.ofMillis(-1000))).isGreaterThanOrEqualTo(2);
        assertThat(store.find(type, "done")).isEmpty();
        assertThat(store.find(type, "compensated")).isEmpty();
        assertThat(store.find(type, "running")).isPresent();
        // the message ids went with them: the same id applies to a new process of that key
        assertThat(store.commit(instance(type, "done", 1, "RUNNING", null), "m", List.of()))
                .isEqualTo(ProcessStore.CommitResult.COMMITTED);
    }

    @Test
    void concurrentUpdatesOfOneProcessLetExactlyOneWin() throws Exception {
        JdbcProcessStore store = store(null);
        int threads = 4;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            for (int round = 0; round < 10; round++) {
                String id = id("race");
                store.commit(instance("race", id, 1, "RUNNING", null), "start", List.of());
                CyclicBarrier barrier = new CyclicBarrier(threads);
                List<Future<Boolean>> results = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    String messageId = "m" + t;
                    results.add(pool.submit(() -> {
                        barrier.await();
                        try {
                            return store.commit(instance("race", id, 2, "RUNNING", null), messageId, List.of())
                                    == ProcessStore.CommitResult.COMMITTED;
                        } catch (ProcessConflictException e) {
                            return false;
                        }
                    }));
                }
                int won = 0;
                for (Future<Boolean> f : results) {
                    won += f.get() ? 1 : 0;
                }
                assertThat(won).as("round %d", round).isEqualTo(1);
                assertThat(store.find("race", id).orElseThrow().version()).isEqualTo(2);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void emittedEventsAreInTheOutboxOnlyWhenTheStateCommitted() throws Exception {
        EventBus bus = bus("process-outbox");
        Outbox outbox = outbox(bus);
        JdbcProcessStore store = store(outbox);
        assertThat(store.publishesEmitted()).isTrue();
        String id = id("emit");
        long before = pending(outbox);

        store.commit(instance("emit", id, 1, "RUNNING", null), "m1",
                List.of(new OutgoingEvent(new Note("one"), PublishOptions.builder().key(id).build())));
        assertThat(pending(outbox)).isEqualTo(before + 1);
        assertThatThrownBy(() -> store.commit(instance("emit", id, 1, "RUNNING", null), "m2",
                List.of(new OutgoingEvent(new Note("lost"), PublishOptions.none()))))
                .isInstanceOf(ProcessConflictException.class);
        assertThat(store.commit(instance("emit", id, 2, "RUNNING", null), "m1",
                List.of(new OutgoingEvent(new Note("again"), PublishOptions.none()))))
                .isEqualTo(ProcessStore.CommitResult.DUPLICATE);
        assertThat(pending(outbox)).isEqualTo(before + 1);
    }

    private long pending(Outbox outbox) throws Exception {
        try (Connection c = dataSource().getConnection()) {
            return outbox.countByStatus(c).getOrDefault("pending", 0L);
        }
    }

    @Test
    void aDeclinedPaymentReleasesTheStockThroughTheOutbox() throws Exception {
        EventBus bus = bus("process-saga");
        List<Object> commands = new CopyOnWriteArrayList<>();
        bus.register(new Services(bus, commands));
        ProcessManager manager = closing(ProcessManager.builder(bus, store(outbox(bus))).saga(orderSaga()).build());
        relay(bus.transport("memory"));

        String ok = id("ok");
        String declined = id("declined");
        bus.publish(new OrderPlaced(ok, 10));
        bus.publish(new OrderPlaced(declined, 500));
        waitFor(() -> finished(manager, ok) && finished(manager, declined) && commands.size() >= 6);

        assertThat(manager.status("jdbc-order-saga", ok).orElseThrow().status()).isEqualTo(ProcessStatus.COMPLETED);
        ProcessView v = manager.status("jdbc-order-saga", declined).orElseThrow();
        assertThat(v.status()).isEqualTo(ProcessStatus.COMPENSATED);
        assertThat(v.completed()).containsExactly("reserve-stock");
        assertThat(v.compensated()).containsExactly("reserve-stock");
        assertThat(commands).filteredOn(c -> c.toString().contains(declined)).containsExactly(
                new ReserveStock(declined), new ChargePayment(declined, 500), new ReleaseStock(declined));
    }

    @Test
    void aNewBusOnTheSameDatabaseResumesWithoutRepeatingOrSkippingAStep() throws Exception {
        List<Object> commands = new CopyOnWriteArrayList<>();
        String order = id("crash");

        // first life: the payment service is unreachable, so the relay cannot hand the charge over
        EventBus first = EventBus.builder().service("process-crash").build();
        first.register(new Services(first, commands));
        ProcessManager firstManager = ProcessManager.builder(first, store(outbox(first))).saga(orderSaga()).build();
        Transport refusingPayments = new Refusing(first.transport("memory"), "ChargePayment");
        OutboxRelay firstRelay = OutboxRelay.builder(dataSource(), refusingPayments).tablePrefix(outboxPrefix)
                .schemaMode(SchemaMode.ALWAYS).pollInterval(Duration.ofMillis(20))
                .lease(Duration.ofSeconds(3), Duration.ofMillis(300)).sendTimeout(Duration.ofSeconds(1)).build();
        first.publish(new OrderPlaced(order, 500));
        waitFor(() -> "charge-payment".equals(firstManager.status("jdbc-order-saga", order).orElseThrow().current()));
        Thread.sleep(200); // the relay tries (and fails) to send the charge
        firstRelay.close();
        firstManager.close();
        first.close(); // the saga is mid-way: its charge is committed in the outbox, not sent
        assertThat(commands).containsExactly(new ReserveStock(order));

        // second life: a new bus and manager on the same database
        EventBus second = bus("process-crash");
        second.register(new Services(second, commands));
        ProcessManager secondManager = closing(ProcessManager.builder(second, store(outbox(second)))
                .saga(orderSaga()).build());
        relay(second.transport("memory"));
        waitFor(() -> finished(secondManager, order) && commands.size() >= 3);
        Thread.sleep(300); // anything repeated would arrive now

        assertThat(commands).containsExactly(new ReserveStock(order), new ChargePayment(order, 500),
                new ReleaseStock(order));
        ProcessView v = secondManager.status("jdbc-order-saga", order).orElseThrow();
        assertThat(v.status()).isEqualTo(ProcessStatus.COMPENSATED);
        assertThat(v.history()).filteredOn(h -> h.contains("sent ChargePayment")).hasSize(1);
    }

    @Test
    void timeoutsFireOnceThroughTheDelayedOutboxRowAndThePoller() throws Exception {
        EventBus bus = bus("process-timeouts");
        SagaDefinition<OrderPlaced> saga = SagaDefinition.builder("jdbc-timeout-saga", OrderPlaced.class,
                        OrderPlaced::orderId)
                .step("reserve-stock", o -> new ReserveStock(o.orderId()))
                .completedBy(StockReserved.class, StockReserved::orderId)
                .timeout(Duration.ofMillis(300))
                .build();
        ProcessManager manager = closing(ProcessManager.builder(bus, store(outbox(bus))).saga(saga)
                .timeoutPollInterval(Duration.ofMillis(50)).build());
        relay(bus.transport("memory"));
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            ids.add(id("timeout"));
            bus.publish(new OrderPlaced(ids.get(i), 1));
        }
        waitFor(() -> manager.stats().timeouts() >= 10);
        Thread.sleep(700); // the delayed ProcessTimeout messages arrive too (or arrived first): nothing fires again
        assertThat(manager.stats().timeouts()).isEqualTo(10);
        for (String id : ids) {
            ProcessView v = manager.status("jdbc-timeout-saga", id).orElseThrow();
            assertThat(v.status()).isEqualTo(ProcessStatus.COMPENSATED);
            assertThat(v.history()).filteredOn(h -> h.contains("timed out")).hasSize(1);
        }
    }

    @Test
    void partsArrivingConcurrentlyMakeOneCompositeEachDespiteConflicts() throws Exception {
        EventBus bus = bus("process-aggregate");
        List<Activated> activated = new CopyOnWriteArrayList<>();
        bus.subscribe(Activated.class, "activation-listener", activated::add);
        AggregatorDefinition def = AggregatorDefinition.builder("jdbc-activation")
                .collect(Registered.class, Registered::userId)
                .collect(Verified.class, Verified::userId)
                .collect(Profiled.class, Profiled::userId)
                .onComplete(p -> new Activated(p.id(), p.get(Registered.class).email(), p.get(Profiled.class).name()))
                .build();
        ProcessManager manager = closing(ProcessManager.builder(bus, store(outbox(bus))).aggregator(def)
                .maxConflictRetries(20).build());
        relay(bus.transport("memory"));

        int users = 30;
        List<Object> parts = new ArrayList<>();
        for (int u = 0; u < users; u++) {
            String user = "user-" + u + "-" + UUID.randomUUID();
            parts.add(new Registered(user, u + "@example.com"));
            parts.add(new Verified(user));
            parts.add(new Verified(user)); // a repeat
            parts.add(new Profiled(user, "name-" + u));
        }
        java.util.Collections.shuffle(parts, new java.util.Random(15));
        ExecutorService pool = Executors.newFixedThreadPool(6);
        try {
            List<Future<?>> sent = new ArrayList<>();
            for (Object part : parts) {
                sent.add(pool.submit(() -> bus.publish(part).join()));
            }
            for (Future<?> f : sent) {
                f.get();
            }
        } finally {
            pool.shutdown();
        }
        waitFor(() -> activated.size() >= users);
        Thread.sleep(300);

        assertThat(activated).hasSize(users);
        assertThat(activated.stream().map(Activated::userId).distinct().count()).isEqualTo(users);
        assertThat(activated).allMatch(a -> a.name().equals("name-" + a.email().substring(0, a.email().indexOf('@'))));
        assertThat(manager.stats().applied()).isEqualTo(3L * users);
    }

    private static boolean finished(ProcessManager m, String id) {
        return m.status("jdbc-order-saga", id).map(v -> v.status().isFinished()).orElse(false);
    }

    static void waitFor(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                fail("not done within 30 s");
            }
            Thread.sleep(20);
        }
    }

    /** A relay target that forwards to a bus's transport, except messages of one type: "unreachable". */
    private static final class Refusing implements Transport {
        private final Transport target;
        private final String refusedType;

        Refusing(Transport target, String refusedType) {
            this.target = target;
            this.refusedType = refusedType;
        }

        @Override
        public String name() {
            return "refusing";
        }

        @Override
        public Set<Capability> capabilities() {
            return Set.of();
        }

        @Override
        public CompletableFuture<Void> send(TransportMessage m) {
            String type = m.headers().get(MessageHeaders.TYPE);
            if (type != null && type.contains(refusedType)) {
                return CompletableFuture.failedFuture(
                        new dev.eventbus.EventBusException("payment service unreachable", null, true));
            }
            return target.send(m);
        }

        @Override
        public TransportSubscription subscribe(SubscriptionRequest request, MessageHandler handler) {
            throw new UnsupportedOperationException("a relay target only");
        }

        @Override
        public void close(Duration timeout) {
        }
    }
}
