package dev.eventbus.outside;

import dev.eventbus.Batch;
import dev.eventbus.ConfigException;
import dev.eventbus.DeadLetter;
import dev.eventbus.EventBus;
import dev.eventbus.Filter;
import dev.eventbus.PublishOptions;
import dev.eventbus.RetryPolicy;
import dev.eventbus.Subscribe;
import dev.eventbus.outside.Events.OrderPlaced;
import dev.eventbus.outside.Events.OrderShipped;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Batch subscribers and filters on the in-memory bus, through the public API only. */
class BatchAndFilterTest {

    static void await(BooleanSupplier condition) {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met in 10 s");
            }
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }

    static final class ThreeAtATime {
        final List<List<OrderPlaced>> calls = new CopyOnWriteArrayList<>();

        @Subscribe(batchSize = 3, batchWait = "1h", concurrency = 1)
        void on(List<OrderPlaced> batch) {
            calls.add(List.copyOf(batch));
        }
    }

    @Test
    void localEventsAreBatchedBySizeAndTheRestIsHandedOverOnClose() {
        ThreeAtATime sub = new ThreeAtATime();
        EventBus bus = EventBus.builder().service("batch-local").build();
        bus.register(sub);
        for (int i = 0; i < 7; i++) {
            bus.publish(new OrderPlaced("o", i)).join();
        }
        await(() -> sub.calls.size() == 2);
        assertThat(sub.calls).extracting(List::size).containsExactly(3, 3);
        assertThat(sub.calls.get(1)).extracting(OrderPlaced::cents).containsExactly(3L, 4L, 5L);
        bus.close();
        assertThat(sub.calls).hasSize(3);
        assertThat(sub.calls.get(2)).extracting(OrderPlaced::cents).containsExactly(6L);
    }

    static final class Poisoned {
        final List<Long> handled = new CopyOnWriteArrayList<>();

        @Subscribe(group = "audit", batchSize = 8, batchWait = "50ms", concurrency = 1)
        void on(Batch<OrderPlaced> batch) {
            if (batch.events().stream().anyMatch(e -> e.cents() == 5)) {
                throw new IllegalArgumentException("cannot store 5");
            }
            batch.events().forEach(e -> handled.add(e.cents()));
        }
    }

    @Test
    void aPoisonEventIsSplitOutRetriedAloneAndDeadLettered() {
        Poisoned sub = new Poisoned();
        EventBus bus = EventBus.builder().service("batch-poison").retryPolicy(RetryPolicy.builder().maxAttempts(3)
                .immediateRetries(1).initialDelay(Duration.ofMillis(20)).jitter(0).build()).build();
        bus.register(sub);
        for (int i = 0; i < 8; i++) {
            bus.publish(new OrderPlaced("o", i)).join();
        }
        await(() -> bus.deadLetters().list("audit").size() == 1);
        assertThat(bus.stats().deadLettered()).isEqualTo(1);
        assertThat(sub.handled).containsExactlyInAnyOrder(0L, 1L, 2L, 3L, 4L, 6L, 7L);
        List<DeadLetter> dead = bus.deadLetters().list("audit");
        assertThat(dead).hasSize(1);
        assertThat(dead.get(0).reason()).contains("gave up after 3 attempts").contains("cannot store 5")
                .contains("split out of its batch");
        assertThat(bus.stats().retries()).isEqualTo(1);
        bus.close();
    }

    @Test
    void observersHearOfEachBatchedEventWhenItsBatchReturns() {
        ThreeAtATime sub = new ThreeAtATime();
        EventBus bus = EventBus.builder().service("batch-observed").build();
        List<String> outcomes = new CopyOnWriteArrayList<>();
        bus.observe(new dev.eventbus.EventBusObserver() {
            @Override
            public void handled(dev.eventbus.Envelope<?> envelope, String transport, String group, String subscriberId,
                                  Handling outcome, long nanos, Throwable failure) {
                outcomes.add(outcome + ":" + envelope.event());
            }
        });
        bus.register(sub);
        bus.publish(new OrderPlaced("o", 1)).join();
        bus.publish(new OrderPlaced("o", 2)).join();
        assertThat(outcomes).as("nothing handled yet: the batch is not full").isEmpty();
        bus.publish(new OrderPlaced("o", 3)).join();
        await(() -> outcomes.size() == 3);
        assertThat(outcomes).allSatisfy(o -> assertThat(o).startsWith("ACK:"));
        bus.close();
    }

    static final class Interceptors {
        final List<OrderPlaced> seen = new CopyOnWriteArrayList<>();

        @Subscribe(batchSize = 2, batchWait = "10ms")
        void on(List<OrderPlaced> batch) {
            seen.addAll(batch);
        }
    }

    @Test
    void consumeInterceptorsDoNotWrapBatchSubscribers() {
        AtomicInteger intercepted = new AtomicInteger();
        Interceptors sub = new Interceptors();
        EventBus bus = EventBus.builder().service("batch-icpt").consumeInterceptor(chain -> {
            intercepted.incrementAndGet();
            chain.proceed();
        }).build();
        bus.register(sub);
        bus.publish(new OrderPlaced("a", 1)).join();
        bus.publish(new OrderPlaced("b", 2)).join();
        await(() -> sub.seen.size() == 2);
        assertThat(intercepted).hasValue(0);
        bus.close();
    }

    static final class EuOnly {
        final List<OrderPlaced> seen = new CopyOnWriteArrayList<>();

        @Subscribe(filter = "region = eu and not tier = test")
        void on(OrderPlaced e) {
            seen.add(e);
        }
    }

    @Test
    void filtersSelectLocalEventsByHeaderAndCountTheRest() {
        EuOnly sub = new EuOnly();
        EventBus bus = EventBus.builder().service("filter-local").build();
        bus.register(sub);
        List<Object> byKey = new CopyOnWriteArrayList<>();
        bus.subscribe(OrderPlaced.class, "by-key", Filter.subject("o-2"), byKey::add);
        bus.publish(new OrderPlaced("o-1", 1), PublishOptions.builder().header("region", "eu").build()).join();
        bus.publish(new OrderPlaced("o-2", 2), PublishOptions.builder().header("region", "us").build()).join();
        bus.publish(new OrderPlaced("o-3", 3)).join();
        bus.publish(new OrderPlaced("o-4", 4), PublishOptions.builder().header("region", "eu")
                .header("tier", "test").build()).join();
        assertThat(sub.seen).extracting(OrderPlaced::orderId).containsExactly("o-1");
        assertThat(byKey).hasSize(1);
        assertThat(bus.stats().filtered()).isEqualTo(3 + 3);
        assertThat(bus.stats().delivered()).isEqualTo(2);
        assertThat(bus.stats().deadLettered()).isZero();
        bus.close();
    }

    @Test
    void filtersWorkOnTheFastPathToo() {
        List<Object> shipped = new CopyOnWriteArrayList<>();
        EventBus bus = EventBus.builder().service("filter-fast").build();
        bus.subscribe(Events.OrderEvent.class, "g", Filter.type("order.shipped"), shipped::add);
        bus.publish(new OrderPlaced("o-1", 1)).join();
        bus.publish(new OrderShipped("o-1")).join();
        assertThat(shipped).containsExactly(new OrderShipped("o-1"));
        bus.close();
    }

    static final class RawList {
        @Subscribe
        @SuppressWarnings("rawtypes")
        void on(List batch) {
        }
    }

    static final class SizeOnAPlainSubscriber {
        @Subscribe(batchSize = 10)
        void on(OrderPlaced e) {
        }
    }

    static final class BadFilter {
        @Subscribe(filter = "region = ")
        void on(OrderPlaced e) {
        }
    }

    static final class BadWait {
        @Subscribe(batchWait = "soon")
        void on(List<OrderPlaced> batch) {
        }
    }

    @Test
    void registrationMistakesFailWithASentence() {
        EventBus bus = EventBus.builder().service("batch-mistakes").build();
        assertThatThrownBy(() -> bus.register(new RawList())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("raw List").hasMessageContaining("List<OrderPlaced>");
        assertThatThrownBy(() -> bus.register(new SizeOnAPlainSubscriber()))
                .hasMessageContaining("only a batch subscriber");
        assertThatThrownBy(() -> bus.register(new BadFilter())).hasMessageContaining("filter = \"region = \"")
                .hasMessageContaining("expected a value");
        assertThatThrownBy(() -> bus.register(new BadWait())).hasMessageContaining("batchWait = \"soon\"");
        bus.close();
    }

    static final class Configured {
        final List<Integer> sizes = new CopyOnWriteArrayList<>();

        @Subscribe(group = "configured", concurrency = 1)
        void on(List<OrderPlaced> batch) {
            sizes.add(batch.size());
        }
    }

    static final class ConfiguredButAnnotated {
        final List<Integer> sizes = new CopyOnWriteArrayList<>();

        @Subscribe(group = "configured", batchSize = 2, concurrency = 1)
        void on(List<OrderPlaced> batch) {
            sizes.add(batch.size());
        }
    }

    @Test
    void groupKeysSetBatchesAndTheAnnotationWins() {
        Map<String, String> cfg = Map.of("eventbus.group.configured.batch.max-size", "4",
                "eventbus.group.configured.batch.max-wait", "1h");
        Configured plain = new Configured();
        ConfiguredButAnnotated annotated = new ConfiguredButAnnotated();
        EventBus bus = EventBus.builder().service("batch-config").config(cfg).build();
        bus.register(plain);
        bus.register(annotated);
        for (int i = 0; i < 8; i++) {
            bus.publish(new OrderPlaced("o", i)).join();
        }
        await(() -> plain.sizes.size() == 2 && annotated.sizes.size() == 4);
        assertThat(plain.sizes).containsExactly(4, 4);
        assertThat(annotated.sizes).containsExactly(2, 2, 2, 2);
        bus.close();
    }

    @Test
    void badGroupKeysFailTheBuildNamingTheKey() {
        assertThatThrownBy(() -> EventBus.builder().config(Map.of("eventbus.group.g.batch.size", "3")).build())
                .isInstanceOf(ConfigException.class).hasMessageContaining("eventbus.group.g.batch.size")
                .hasMessageContaining("did you mean 'eventbus.group.g.batch.max-size'");
        assertThatThrownBy(() -> EventBus.builder().config(Map.of("eventbus.group.g.batch.max-size", "0")).build())
                .isInstanceOf(ConfigException.class).hasMessageContaining("eventbus.group.g.batch.max-size")
                .hasMessageContaining("1 to 100000");
        assertThatThrownBy(() -> EventBus.builder().config(Map.of("eventbus.group.g.batch.max-wait", "2h")).build())
                .isInstanceOf(ConfigException.class).hasMessageContaining("eventbus.group.g.batch.max-wait")
                .hasMessageContaining("0ms to 1h");
    }
}
