package dev.eventbus.outside;

import dev.eventbus.DeadLetter;
import dev.eventbus.EventBus;
import dev.eventbus.RetryPolicy;
import dev.eventbus.Subscribe;
import dev.eventbus.SubscriberExceptionHandler;
import dev.eventbus.outside.Events.OrderPlaced;
import dev.eventbus.spi.MessageHeaders;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/** Retry policy, dead letters and replay on the in-memory default. */
class RetryAndDeadLetterTest {

    private static RetryPolicy fast(int attempts, int immediate) {
        return RetryPolicy.builder().maxAttempts(attempts).immediateRetries(immediate)
                .initialDelay(Duration.ofMillis(50)).maxDelay(Duration.ofMillis(200)).jitter(0).build();
    }

    static class Flaky {
        final AtomicInteger calls = new AtomicInteger();
        final int failures;

        Flaky(int failures) {
            this.failures = failures;
        }

        @Subscribe(group = "flaky")
        void on(OrderPlaced e) {
            if (calls.incrementAndGet() <= failures) {
                throw new IllegalStateException("transient " + calls.get());
            }
        }
    }

    static class Healthy {
        final List<String> got = new CopyOnWriteArrayList<>();

        @Subscribe(group = "healthy")
        void on(OrderPlaced e) {
            got.add(e.orderId());
        }
    }

    @Test
    void immediateRetriesHappenInProcessBeforePublishReturns() {
        List<SubscriberExceptionHandler.Context> reported = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.builder().retryPolicy(fast(3, 2))
                .subscriberExceptionHandler((e, c) -> reported.add(c)).build()) {
            Flaky flaky = new Flaky(2);
            Healthy healthy = new Healthy();
            bus.register(flaky);
            bus.register(healthy);
            bus.publish(new OrderPlaced("o-1", 1)).join();
            assertThat(flaky.calls.get()).isEqualTo(3);
            assertThat(healthy.got).containsExactly("o-1");
            assertThat(reported).extracting(SubscriberExceptionHandler.Context::attempt).containsExactly(1, 2);
            assertThat(reported).allSatisfy(c -> {
                assertThat(c.willRetry()).isTrue();
                assertThat(c.group()).isEqualTo("flaky");
                assertThat(c.subscriberId()).endsWith("Flaky#on(OrderPlaced)");
                assertThat(c.method().getName()).isEqualTo("on");
                assertThat(c.envelope().event()).isEqualTo(new OrderPlaced("o-1", 1));
            });
            assertThat(bus.stats().failures()).isEqualTo(2);
        }
    }

    @Test
    void delayedRetriesRedeliverOnlyToTheFailedSubscriber() {
        try (EventBus bus = EventBus.builder().retryPolicy(fast(4, 0)).build()) {
            Flaky flaky = new Flaky(2);
            Healthy healthy = new Healthy();
            bus.register(flaky);
            bus.register(healthy);
            bus.publish(new OrderPlaced("o-2", 1)).join();
            await(() -> flaky.calls.get() == 3);
            sleep(300);
            assertThat(flaky.calls.get()).isEqualTo(3);
            assertThat(healthy.got).as("the healthy group is not re-invoked by the other's retries").containsExactly("o-2");
            assertThat(bus.stats().retries()).isEqualTo(2);
            assertThat(bus.deadLetters().list()).isEmpty();
        }
    }

    @Test
    void exhaustedRetriesDeadLetterWithTheReasonAndReplayWorks() {
        try (EventBus bus = EventBus.builder().retryPolicy(fast(3, 1)).build()) {
            Flaky flaky = new Flaky(3);
            Healthy healthy = new Healthy();
            bus.register(flaky);
            bus.register(healthy);
            bus.publish(new OrderPlaced("o-3", 7)).join();
            await(() -> !bus.deadLetters().list("flaky").isEmpty());
            DeadLetter d = bus.deadLetters().list("flaky").get(0);
            assertThat(flaky.calls.get()).isEqualTo(3);
            assertThat(d.group()).isEqualTo("flaky");
            assertThat(d.type()).isEqualTo("order.placed");
            assertThat(d.originalStream()).isEqualTo("orders");
            assertThat(d.attempts()).isEqualTo(3);
            assertThat(d.reason()).contains("gave up after 3 attempts");
            assertThat(d.exceptionClass()).isEqualTo(IllegalStateException.class.getName());
            assertThat(d.message().header(MessageHeaders.DLQ_MESSAGE)).isEqualTo("transient 3");
            assertThat(d.message().header(MessageHeaders.DLQ_STACK)).contains("Flaky.on");
            assertThat(d.message().header(MessageHeaders.FIRST_FAILURE)).isNotNull();
            assertThat(bus.deadLetters().list("healthy")).isEmpty();
            assertThat(bus.stats().deadLettered()).isEqualTo(1);

            // The subscriber is fixed (its 4th call succeeds); a replay goes to it alone, with a fresh budget.
            assertThat(bus.deadLetters().replay(d)).isTrue();
            await(() -> flaky.calls.get() == 4);
            sleep(200);
            assertThat(healthy.got).containsExactly("o-3");
            assertThat(bus.deadLetters().list("flaky")).isEmpty();
            assertThat(bus.deadLetters().replay(d)).isFalse();
        }
    }

    static class TwoParameters {
        final AtomicInteger calls = new AtomicInteger();

        @Subscribe(group = "two")
        void on(OrderPlaced e, dev.eventbus.Envelope<OrderPlaced> env) {
            if (calls.incrementAndGet() == 1) {
                throw new IllegalStateException("first call fails");
            }
        }
    }

    @Test
    void aDelayedRetryReachesASubscriberWhoseIdHasACommaInIt() {
        try (EventBus bus = EventBus.builder().retryPolicy(fast(3, 0)).build()) {
            TwoParameters s = new TwoParameters();
            bus.register(s);
            bus.publish(new OrderPlaced("o-5", 1)).join();
            await(() -> s.calls.get() == 2);
            sleep(200);
            assertThat(s.calls.get()).isEqualTo(2);
            assertThat(bus.deadLetters().list()).isEmpty();
        }
    }

    static class Fatal {
        final AtomicInteger calls = new AtomicInteger();

        @Subscribe(group = "fatal")
        void on(OrderPlaced e) {
            calls.incrementAndGet();
            throw new IllegalArgumentException("bad data");
        }
    }

    @Test
    void fatalExceptionsAreNotRetried() {
        RetryPolicy policy = RetryPolicy.builder().maxAttempts(5).immediateRetries(2)
                .abortOn(IllegalArgumentException.class).build();
        try (EventBus bus = EventBus.builder().retryPolicy(policy).build()) {
            Fatal f = new Fatal();
            bus.register(f);
            bus.publish(new OrderPlaced("o-4", 1)).join();
            assertThat(f.calls.get()).isEqualTo(1);
            DeadLetter d = bus.deadLetters().list("fatal").get(0);
            assertThat(d.reason()).contains("fatal java.lang.IllegalArgumentException");
        }
    }

    @Test
    void retryPolicyBacksOffExponentiallyWithinBounds() {
        RetryPolicy p = RetryPolicy.builder().maxAttempts(10).immediateRetries(1).initialDelay(Duration.ofMillis(100))
                .multiplier(2).maxDelay(Duration.ofMillis(500)).jitter(0).build();
        assertThat(p.isImmediate(2)).isTrue();
        assertThat(p.isImmediate(3)).isFalse();
        assertThat(p.delayBefore(3)).isEqualTo(Duration.ofMillis(100));
        assertThat(p.delayBefore(4)).isEqualTo(Duration.ofMillis(200));
        assertThat(p.delayBefore(5)).isEqualTo(Duration.ofMillis(400));
        assertThat(p.delayBefore(6)).isEqualTo(Duration.ofMillis(500));
        RetryPolicy jittered = RetryPolicy.builder().initialDelay(Duration.ofMillis(1000)).immediateRetries(0)
                .jitter(0.5).build();
        for (int i = 0; i < 100; i++) {
            assertThat(jittered.delayBefore(2).toMillis()).isBetween(500L, 1500L);
        }
    }

    static void await(BooleanSupplier c) {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!c.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 10 s");
            }
            sleep(5);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
