package dev.eventbus.outside;

import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.Registration;
import dev.eventbus.Subscribe;
import dev.eventbus.outside.Events.InvoiceSent;
import dev.eventbus.outside.Events.OrderEvent;
import dev.eventbus.outside.Events.OrderPlaced;
import dev.eventbus.outside.Events.OrderShipped;
import dev.eventbus.outside.Events.Unannotated;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The synchronous in-memory fast path (publish without options): its caches of the last routes, the calling
 * thread's state and the per-class dispatchers must never deliver to the wrong subscribers, miss a change of
 * registrations, lose a count or a causation id.
 */
class FastPathTest {

    static final class Log {
        final List<String> calls = new CopyOnWriteArrayList<>();
    }

    @Test
    void classesAlternatingThroughTheRouteCacheReachOnlyTheirSubscribers() {
        try (EventBus bus = EventBus.builder().service("fast").build()) {
            Log log = new Log();
            bus.subscribe(OrderPlaced.class, e -> log.calls.add("placed:" + e.orderId()));
            bus.subscribe(OrderShipped.class, e -> log.calls.add("shipped:" + e.orderId()));
            bus.subscribe(OrderEvent.class, e -> log.calls.add("order:" + e.orderId()));
            bus.subscribe(InvoiceSent.class, e -> log.calls.add("invoice:" + e.orderId()));
            List<String> expected = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                // two classes alternating, then a third and a fourth now and then: every cache slot gets replaced
                bus.publish(new OrderPlaced("p" + i, i));
                expected.add("placed:p" + i);
                expected.add("order:p" + i);
                bus.publish(new OrderShipped("s" + i));
                expected.add("shipped:s" + i);
                expected.add("order:s" + i);
                if (i % 7 == 0) {
                    bus.publish(new InvoiceSent("i" + i, i));
                    expected.add("invoice:i" + i);
                }
                if (i % 11 == 0) {
                    bus.publish(new Unannotated("u" + i));
                }
            }
            assertThat(log.calls).containsExactlyElementsOf(expected);
            assertThat(bus.stats().deadEvents()).isEqualTo(19);
        }
    }

    @Test
    void registrationChangesReachCachedRoutesAtOnce() {
        try (EventBus bus = EventBus.builder().service("fast").build()) {
            Log log = new Log();
            Registration a = bus.subscribe(OrderPlaced.class, e -> log.calls.add("a:" + e.orderId()));
            bus.subscribe(OrderShipped.class, e -> log.calls.add("s:" + e.orderId()));
            for (int i = 0; i < 50; i++) { // warm both routes and their dispatchers
                bus.publish(new OrderPlaced("w", 1));
                bus.publish(new OrderShipped("w"));
            }
            log.calls.clear();

            Registration b = bus.subscribe(OrderPlaced.class, e -> log.calls.add("b:" + e.orderId()));
            bus.publish(new OrderPlaced("1", 1));
            bus.publish(new OrderShipped("1"));
            a.unregister();
            bus.publish(new OrderPlaced("2", 1));
            bus.publish(new OrderShipped("2"));
            b.unregister();
            bus.publish(new OrderPlaced("3", 1));
            bus.publish(new OrderShipped("3"));

            assertThat(log.calls).containsExactly("a:1", "b:1", "s:1", "b:2", "s:2", "s:3");
            assertThat(bus.stats().deadEvents()).isEqualTo(1);
        }
    }

    /** A subscriber that unregisters itself and another while an event is being dispatched. */
    @Test
    void unregisterDuringDispatchTakesEffectForTheNextEvent() {
        try (EventBus bus = EventBus.builder().service("fast").build()) {
            Log log = new Log();
            Registration[] regs = new Registration[3];
            regs[0] = bus.subscribe(OrderPlaced.class, e -> {
                log.calls.add("first:" + e.orderId());
                regs[0].unregister();
                regs[1].unregister();
            });
            regs[1] = bus.subscribe(OrderPlaced.class, e -> log.calls.add("second:" + e.orderId()));
            regs[2] = bus.subscribe(OrderPlaced.class, e -> log.calls.add("third:" + e.orderId()));
            bus.publish(new OrderPlaced("1", 1));
            bus.publish(new OrderPlaced("2", 1));
            assertThat(log.calls).containsExactly("first:1", "second:1", "third:1", "third:2");
        }
    }

    static final class Throwing {
        final Log log;

        Throwing(Log log) {
            this.log = log;
        }

        @Subscribe
        void one(OrderPlaced e) {
            log.calls.add("one");
        }

        @Subscribe
        void two(OrderPlaced e) {
            log.calls.add("two");
            throw new IllegalStateException("boom");
        }

        @Subscribe
        void three(OrderPlaced e) {
            log.calls.add("three");
        }
    }

    @Test
    void aThrowingSubscriberAmongSeveralIsIsolatedAndReported() {
        List<String> reported = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.builder().service("fast")
                .retryPolicy(dev.eventbus.RetryPolicy.builder().maxAttempts(1).build())
                .subscriberExceptionHandler((t, c) -> reported.add(c.subscriberId() + ":" + c.envelope().subject()))
                .build()) {
            Log log = new Log();
            bus.register(new Throwing(log));
            for (int i = 0; i < 3; i++) {
                bus.publish(new OrderPlaced("o" + i, 1)).join();
            }
            assertThat(log.calls).hasSize(9).containsOnly("one", "two", "three");
            assertThat(reported).hasSize(3).allMatch(r -> r.contains("#two(") && r.matches(".*:o[0-2]"));
            assertThat(bus.stats().failures()).isEqualTo(3);
            assertThat(bus.stats().deadLettered()).isEqualTo(3);
        }
    }

    static final class Chain {
        final EventBus bus;
        final List<Envelope<?>> seen = new CopyOnWriteArrayList<>();

        Chain(EventBus bus) {
            this.bus = bus;
        }

        @Subscribe
        void placed(OrderPlaced e) { // takes the event only: the fast path never builds the envelope for it
            bus.publish(new OrderShipped(e.orderId()));
        }

        @Subscribe
        void shipped(OrderShipped e) {
            bus.publish(new InvoiceSent(e.orderId(), 1));
        }

        @Subscribe
        void seen(Envelope<? extends OrderEvent> env) {
            seen.add(env);
        }

        @Subscribe
        void invoice(Envelope<InvoiceSent> env) {
            seen.add(env);
        }
    }

    @Test
    void nestedFastPublishesInheritCorrelationAndCausation() {
        try (EventBus bus = EventBus.builder().service("fast").build()) {
            Chain c = new Chain(bus);
            bus.register(c);
            for (int round = 0; round < 3; round++) {
                c.seen.clear();
                bus.publish(new OrderPlaced("o" + round, 1));
                assertThat(c.seen).hasSize(3);
                Envelope<?> invoice = only(c.seen, InvoiceSent.class);
                Envelope<?> shipped = only(c.seen, OrderShipped.class);
                Envelope<?> placed = only(c.seen, OrderPlaced.class);
                assertThat(placed.causationId()).isNull();
                assertThat(placed.correlationId()).isEqualTo(placed.id());
                assertThat(shipped.causationId()).isEqualTo(placed.id());
                assertThat(shipped.correlationId()).isEqualTo(placed.id());
                assertThat(invoice.causationId()).isEqualTo(shipped.id());
                assertThat(invoice.correlationId()).isEqualTo(placed.id());
            }
            // after the nested dispatches unwound, a new publish starts a new flow
            c.seen.clear();
            bus.publish(new OrderShipped("x"));
            assertThat(only(c.seen, OrderShipped.class).causationId()).isNull();
            assertThat(only(c.seen, InvoiceSent.class).causationId()).isEqualTo(only(c.seen, OrderShipped.class).id());
        }
    }

    @Test
    void asyncBareQueuedEventsKeepCausationCountsAndDeadEvents() throws Exception {
        try (EventBus bus = EventBus.builder().service("fast")
                .asyncDispatch(2, 1000, dev.eventbus.OverflowPolicy.BLOCK, java.time.Duration.ofSeconds(10)).build()) {
            Chain c = new Chain(bus);
            bus.register(c);
            for (int i = 0; i < 100; i++) {
                bus.publish(new OrderPlaced("o" + i, 1));
                bus.publish(new Unannotated("nobody"));
            }
            RetryAndDeadLetterTest.await(() -> c.seen.size() == 300);
            for (int i = 0; i < 100; i++) {
                String key = "o" + i;
                List<Envelope<?>> flow = c.seen.stream().filter(e -> e.subject() != null && e.subject().equals(key)
                        || e.event() instanceof InvoiceSent inv && inv.orderId().equals(key)).toList();
                Envelope<?> placed = only(flow, OrderPlaced.class);
                Envelope<?> shipped = only(flow, OrderShipped.class);
                Envelope<?> invoice = only(flow, InvoiceSent.class);
                assertThat(placed.causationId()).isNull();
                assertThat(shipped.causationId()).isEqualTo(placed.id());
                assertThat(invoice.causationId()).isEqualTo(shipped.id());
                assertThat(invoice.correlationId()).isEqualTo(placed.id());
            }
            RetryAndDeadLetterTest.await(() -> bus.stats().deadEvents() == 100);
            assertThat(bus.stats().published()).isEqualTo(400);
        }
    }

    /** Subscribers of a plain event (no own id), registered in this order: publish, then look, then fail. */
    static final class Publishes {
        final EventBus bus;

        Publishes(EventBus bus) {
            this.bus = bus;
        }

        @Subscribe
        void on(InvoiceSent e) { // event only: when it publishes, the frame has no envelope and no event to build one
            bus.publish(new Unannotated("caused by " + e.orderId()));
        }
    }

    static final class Looks {
        final List<Envelope<?>> seen = new CopyOnWriteArrayList<>();

        @Subscribe
        void on(Envelope<InvoiceSent> env) {
            seen.add(env);
        }

        @Subscribe
        void on(Unannotated e, Envelope<Unannotated> env) {
            seen.add(env);
        }
    }

    static final class Fails {
        @Subscribe
        void on(InvoiceSent e) {
            throw new IllegalStateException("boom");
        }
    }

    @Test
    void idsDrawnForANestedPublishAreTheIdsOfTheEnvelopeBuiltAfterIt() {
        List<Envelope<?>> failed = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.builder().service("fast").retryPolicy(dev.eventbus.RetryPolicy.noRetries())
                .subscriberExceptionHandler((t, ctx) -> failed.add(ctx.envelope())).build()) {
            Looks looks = new Looks();
            bus.register(new Publishes(bus));
            bus.register(looks);
            bus.register(new Fails());
            for (int round = 0; round < 3; round++) {
                looks.seen.clear();
                failed.clear();
                bus.publish(new InvoiceSent("i" + round, 1));
                Envelope<?> invoice = only(looks.seen, InvoiceSent.class);
                Envelope<?> caused = only(looks.seen, Unannotated.class);
                assertThat(invoice.causationId()).isNull();
                assertThat(caused.causationId()).isEqualTo(invoice.id());
                assertThat(caused.correlationId()).isEqualTo(invoice.id());
                assertThat(failed).hasSize(1);
                assertThat(failed.get(0).id()).isEqualTo(invoice.id());
                assertThat(failed.get(0).event()).isEqualTo(new InvoiceSent("i" + round, 1));
            }
        }
    }

    record Depth(int n) {
    }

    static final class Recurses {
        final EventBus bus;
        final int max;

        Recurses(EventBus bus, int max) {
            this.bus = bus;
            this.max = max;
        }

        @Subscribe
        void on(Depth d) {
            if (d.n() < max) {
                bus.publish(new Depth(d.n() + 1));
            }
        }
    }

    static final class Collects {
        final List<Envelope<Depth>> seen = new CopyOnWriteArrayList<>();

        @Subscribe
        void on(Envelope<Depth> env) {
            seen.add(env);
        }
    }

    @Test
    void chainsDeeperThanTheFrameArrayKeepEveryCausation() {
        try (EventBus bus = EventBus.builder().service("fast").build()) {
            Collects collects = new Collects();
            bus.register(new Recurses(bus, 12)); // publishes before the envelope of its level is built
            bus.register(collects);
            for (int round = 0; round < 2; round++) {
                collects.seen.clear();
                bus.publish(new Depth(0));
                assertThat(collects.seen).hasSize(13);
                // the deepest level is handled first: its envelope was built before its parents'
                List<Envelope<Depth>> byLevel = new ArrayList<>(collects.seen);
                byLevel.sort(java.util.Comparator.comparingInt(e -> e.event().n()));
                Envelope<Depth> root = byLevel.get(0);
                assertThat(root.causationId()).isNull();
                for (int n = 1; n <= 12; n++) {
                    assertThat(byLevel.get(n).event().n()).isEqualTo(n);
                    assertThat(byLevel.get(n).causationId()).as("level %d", n).isEqualTo(byLevel.get(n - 1).id());
                    assertThat(byLevel.get(n).correlationId()).isEqualTo(root.id());
                }
            }
            assertThat(bus.stats().published()).isEqualTo(26);
        }
    }

    /** The one envelope of {@code type} (subscriber order within a class is not fixed by the test). */
    private static Envelope<?> only(List<Envelope<?>> seen, Class<?> type) {
        List<Envelope<?>> of = seen.stream().filter(e -> type.isInstance(e.event())).toList();
        assertThat(of).hasSize(1);
        return of.get(0);
    }

    @Test
    void publishedCountsEveryPublishFromManyThreadsIncludingEndedOnes() throws Exception {
        try (EventBus bus = EventBus.builder().service("fast").build()) {
            AtomicLong handled = new AtomicLong();
            bus.subscribe(OrderPlaced.class, e -> handled.incrementAndGet());
            int threads = 6;
            int each = 20_000;
            CountDownLatch start = new CountDownLatch(1);
            List<Thread> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                Thread w = new Thread(() -> {
                    try {
                        start.await();
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                    OrderPlaced e = new OrderPlaced("k", 1);
                    for (int i = 0; i < each; i++) {
                        bus.publish(e);
                        if (i % 5000 == 0) {
                            bus.stats(); // reads while others count
                        }
                    }
                });
                workers.add(w);
                w.start();
            }
            for (int i = 0; i < 10; i++) {
                bus.publish(new OrderPlaced("main", 1));
            }
            start.countDown();
            for (Thread w : workers) {
                w.join();
            }
            long expected = (long) threads * each + 10;
            assertThat(handled.get()).isEqualTo(expected);
            assertThat(bus.stats().published()).isEqualTo(expected);
            // the ended threads' counts were folded into the shared counter; nothing counted twice
            assertThat(bus.stats().published()).isEqualTo(expected);
            bus.publish(new OrderPlaced("main", 1));
            assertThat(bus.stats().published()).isEqualTo(expected + 1);
        }
    }

    @Test
    void manyShortLivedPublishingThreadsAreAllCountedOnce() throws Exception {
        try (EventBus bus = EventBus.builder().service("fast").build()) {
            bus.subscribe(OrderPlaced.class, e -> { });
            int threads = 300; // past several of the thresholds at which ended threads are folded in
            for (int t = 0; t < threads; t++) {
                Thread w = new Thread(() -> {
                    for (int i = 0; i < 7; i++) {
                        bus.publish(new OrderPlaced("k", i));
                    }
                });
                w.start();
                w.join(); // each ends before the next starts: its state must be folded in, not lost or counted twice
                if (t % 50 == 0) {
                    assertThat(bus.stats().published()).isEqualTo(7L * (t + 1));
                }
            }
            assertThat(bus.stats().published()).isEqualTo(7L * threads);
        }
    }
}
