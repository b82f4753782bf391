package dev.eventbus;

import dev.eventbus.internal.DuplicateCounter;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/** {@link EventBus#stats()} counts what happened on every path; a {@link Registration} says what it registered. */
class StatsAndRegistrationTest {

    record OrderPlaced(String orderId, long cents) {
    }

    static final class Inventory {
        @Subscribe(group = "stock")
        void onPlaced(OrderPlaced e) {
        }
    }

    @Test
    void deliveredCountsEverySuccessfulInMemoryInvocation() {
        try (EventBus bus = EventBus.builder().service("stats").build()) {
            bus.subscribe(OrderPlaced.class, e -> { });
            bus.subscribe(OrderPlaced.class, e -> { });
            for (int i = 0; i < 3; i++) {
                bus.publish(new OrderPlaced("o-" + i, i)); // the fast path
            }
            bus.publish(new OrderPlaced("o-k", 1), PublishOptions.builder().key("k").build()); // with options
            assertThat(bus.stats().delivered()).isEqualTo(8);
            assertThat(bus.stats().published()).isEqualTo(4);
        }
    }

    @Test
    void aFailedInvocationIsNotDeliveredUntilARetrySucceeds() {
        AtomicInteger calls = new AtomicInteger();
        try (EventBus bus = EventBus.builder().service("stats-retry")
                .retryPolicy(RetryPolicy.builder().maxAttempts(3).immediateRetries(2).build()).build()) {
            bus.subscribe(OrderPlaced.class, e -> {
                if (calls.incrementAndGet() == 1) {
                    throw new IllegalStateException("first call fails");
                }
            });
            bus.subscribe(OrderPlaced.class, e -> {
                throw new IllegalArgumentException("never works");
            });
            bus.publish(new OrderPlaced("o-1", 1));
            EventBus.Stats s = bus.stats();
            assertThat(s.delivered()).isEqualTo(1); // the first subscriber's retry
            assertThat(s.failures()).isEqualTo(1 + 3);
        }
    }

    @Test
    void asyncDeliveriesAreCountedOnTheWorkers() throws Exception {
        EventBus bus = EventBus.builder().service("stats-async").dispatch(DispatchMode.ASYNC).build();
        bus.subscribe(OrderPlaced.class, e -> { });
        for (int i = 0; i < 100; i++) {
            bus.publish(new OrderPlaced("o-" + i, i));
        }
        bus.close(Duration.ofSeconds(10)); // drains the queues
        assertThat(bus.stats().delivered()).isEqualTo(100);
    }

    @Test
    void anIdempotencyInterceptorsDuplicatesReachTheStats() {
        ConsumeInterceptor inbox = chain -> {
            if (chain.envelope().subject() != null && chain.envelope().subject().startsWith("seen")) {
                DuplicateCounter.count(chain); // what the JDBC inbox does for an event it handled before
                return;
            }
            chain.proceed();
        };
        AtomicInteger handled = new AtomicInteger();
        try (EventBus bus = EventBus.builder().service("stats-dup").consumeInterceptor(inbox).build()) {
            bus.subscribe(OrderPlaced.class, e -> handled.incrementAndGet());
            bus.publish(new OrderPlaced("o-1", 1), PublishOptions.builder().key("seen-1").build());
            bus.publish(new OrderPlaced("o-2", 1), PublishOptions.builder().key("new-2").build());
            assertThat(bus.stats().duplicates()).isEqualTo(1);
            assertThat(handled).hasValue(1);
        }
    }

    @Test
    void aRegistrationSaysWhatItRegistered() {
        try (EventBus bus = EventBus.builder().service("orders").build()) {
            Registration lambda = bus.subscribe(OrderPlaced.class, e -> { });
            Registration object = bus.register(new Inventory());
            assertThat(lambda.toString()).isEqualTo("Registration[lambda:orders:" + OrderPlaced.class.getName()
                    + "#1 of " + OrderPlaced.class.getName() + " in group 'orders']");
            assertThat(object.toString()).isEqualTo("Registration[" + Inventory.class.getName()
                    + "#onPlaced(OrderPlaced) of " + OrderPlaced.class.getName() + " in group 'stock']");
            object.unregister();
            assertThat(object.toString()).endsWith("; unregistered]");
        }
    }
}
