package dev.eventbus.outside;

import dev.eventbus.EventBus;
import dev.eventbus.EventBusException;
import dev.eventbus.OverflowPolicy;
import dev.eventbus.PublishOptions;
import dev.eventbus.Subscribe;
import dev.eventbus.outside.Events.OrderPlaced;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.eventbus.outside.RetryAndDeadLetterTest.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Asynchronous local dispatch: order per key, bounded queues, overflow policies, close draining. */
class AsyncDispatchTest {

    static class Ordered {
        final Map<String, List<Long>> byKey = new ConcurrentHashMap<>();
        final AtomicInteger count = new AtomicInteger();
        final Map<String, Boolean> threads = new ConcurrentHashMap<>();

        @Subscribe
        void on(OrderPlaced e) {
            byKey.computeIfAbsent(e.orderId(), k -> new CopyOnWriteArrayList<>()).add(e.cents());
            threads.put(Thread.currentThread().getName(), true);
            count.incrementAndGet();
        }
    }

    @Test
    void keepsPerKeyOrderOnSeveralWorkers() {
        try (EventBus bus = EventBus.builder().asyncDispatch(4, 10_000, OverflowPolicy.BLOCK, Duration.ofSeconds(10)).build()) {
            Ordered o = new Ordered();
            bus.register(o);
            for (int i = 0; i < 500; i++) {
                for (int k = 0; k < 10; k++) {
                    bus.publish(new OrderPlaced("key-" + k, i));
                }
            }
            await(() -> o.count.get() == 5000);
            assertThat(o.byKey).hasSize(10);
            o.byKey.values().forEach(seq -> assertThat(seq).isSorted().hasSize(500));
            assertThat(o.threads.keySet()).allMatch(n -> n.contains("dispatch")).hasSizeGreaterThan(1);
        }
    }

    static class Blocking {
        final CountDownLatch release = new CountDownLatch(1);
        final AtomicInteger handled = new AtomicInteger();

        @Subscribe
        void on(OrderPlaced e) throws InterruptedException {
            release.await(10, TimeUnit.SECONDS);
            handled.incrementAndGet();
        }
    }

    @Test
    void failPolicyRejectsWhenFullAndCountsIt() {
        try (EventBus bus = EventBus.builder().asyncDispatch(1, 4, OverflowPolicy.FAIL, Duration.ofSeconds(1)).build()) {
            Blocking b = new Blocking();
            bus.register(b);
            List<CompletableFuture<Void>> results = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                results.add(bus.publish(new OrderPlaced("same-key", i)));
            }
            long failed = results.stream().filter(CompletableFuture::isCompletedExceptionally).count();
            assertThat(failed).isGreaterThan(0);
            CompletableFuture<Void> refused = results.stream().filter(CompletableFuture::isCompletedExceptionally)
                    .findFirst().orElseThrow();
            assertThatThrownBy(refused::join)
                    .hasCauseInstanceOf(EventBusException.class).hasMessageContaining("queue full");
            assertThat(bus.stats().rejected()).isEqualTo(failed);
            assertThat(bus.stats().overflows()).isEqualTo(failed);
            b.release.countDown();
            await(() -> b.handled.get() == 20 - failed);
        }
    }

    @Test
    void blockPolicyWaitsThenFailsAfterItsTimeout() {
        try (EventBus bus = EventBus.builder().asyncDispatch(1, 2, OverflowPolicy.BLOCK, Duration.ofMillis(200)).build()) {
            Blocking b = new Blocking();
            bus.register(b);
            List<CompletableFuture<Void>> results = new ArrayList<>();
            long start = System.nanoTime();
            for (int i = 0; i < 5; i++) {
                results.add(bus.publish(new OrderPlaced("k", i)));
            }
            long ms = (System.nanoTime() - start) / 1_000_000;
            assertThat(results.stream().filter(CompletableFuture::isCompletedExceptionally).count()).isPositive();
            assertThat(ms).as("blocked for the timeout").isGreaterThanOrEqualTo(190);
            b.release.countDown();
        }
    }

    static class Slow {
        final List<Long> seen = new CopyOnWriteArrayList<>();
        final List<String> threads = new CopyOnWriteArrayList<>();

        @Subscribe
        void on(OrderPlaced e) throws InterruptedException {
            Thread.sleep(2);
            seen.add(e.cents());
            threads.add(Thread.currentThread().getName());
        }
    }

    @Test
    void callerRunsKeepsOrderAndNeverFails() {
        try (EventBus bus = EventBus.builder().asyncDispatch(1, 2, OverflowPolicy.CALLER_RUNS, Duration.ofSeconds(1)).build()) {
            Slow s = new Slow();
            bus.register(s);
            String me = Thread.currentThread().getName();
            for (int i = 0; i < 50; i++) {
                assertThat(bus.publish(new OrderPlaced("k", i))).isCompleted().isNotCompletedExceptionally();
            }
            await(() -> s.seen.size() == 50);
            assertThat(s.seen).isSorted();
            assertThat(s.threads).contains(me);
            assertThat(bus.stats().overflows()).isPositive();
            assertThat(bus.stats().rejected()).isZero();
        }
    }

    @Test
    void closeDrainsQueuedEvents() {
        EventBus bus = EventBus.builder().asyncDispatch(1, 1000, OverflowPolicy.BLOCK, Duration.ofSeconds(1)).build();
        Slow s = new Slow();
        bus.register(s);
        for (int i = 0; i < 100; i++) {
            bus.publish(new OrderPlaced("k" + (i % 3), i));
        }
        bus.close(Duration.ofSeconds(10));
        assertThat(s.seen).hasSize(100);
    }

    @Test
    void delayedPublishArrivesNoEarlierThanAsked() {
        try (EventBus bus = EventBus.builder().build()) {
            List<Long> at = new CopyOnWriteArrayList<>();
            bus.subscribe(OrderPlaced.class, e -> at.add(System.nanoTime()));
            long start = System.nanoTime();
            bus.publish(new OrderPlaced("d", 1), PublishOptions.builder().delay(Duration.ofMillis(300)).build()).join();
            assertThat(at).isEmpty();
            await(() -> at.size() == 1);
            assertThat((at.get(0) - start) / 1_000_000).isGreaterThanOrEqualTo(300);
        }
    }
}
