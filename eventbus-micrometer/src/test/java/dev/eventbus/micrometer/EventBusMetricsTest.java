package dev.eventbus.micrometer;

import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.Filter;
import dev.eventbus.OverflowPolicy;
import dev.eventbus.PublishOptions;
import dev.eventbus.RetryPolicy;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

class EventBusMetricsTest {

    @EventType(name = "metrics.job", stream = "metrics-jobs")
    record Job(String id, String kind) {
    }

    /** Refused at once, never retried: the K dead ones. */
    static final class Fatal extends RuntimeException {
        Fatal(String m) {
            super(m);
        }
    }

    private static final int N = 7;
    private static final int M = 4;
    private static final int K = 3;

    private static RetryPolicy retry() {
        return RetryPolicy.builder().maxAttempts(3).immediateRetries(0).initialDelay(Duration.ofMillis(10))
                .maxDelay(Duration.ofMillis(10)).jitter(0).abortOn(Fatal.class).build();
    }

    /** N succeed at once; M fail once, then succeed on their delayed redelivery; K fail fatally: dead. */
    private static void runScenario(EventBus bus) {
        Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
        bus.subscribe(Job.class, "workers", job -> {
            int n = calls.computeIfAbsent(job.id(), k -> new AtomicInteger()).incrementAndGet();
            if (job.kind().equals("flaky") && n == 1) {
                throw new IllegalStateException("first attempt of " + job.id());
            }
            if (job.kind().equals("bad")) {
                throw new Fatal("cannot do " + job.id());
            }
        });
        for (int i = 0; i < N; i++) {
            bus.publish(new Job("ok-" + i, "ok")).join();
        }
        for (int i = 0; i < M; i++) {
            bus.publish(new Job("flaky-" + i, "flaky")).join();
        }
        for (int i = 0; i < K; i++) {
            bus.publish(new Job("bad-" + i, "bad")).join();
        }
    }

    @Test
    void countersAndTimersMatchNHandledMRetriedKDeadExactly() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        // Serialized in memory: off the fast path, so every invocation is observed and timed.
        try (EventBus bus = EventBus.builder().service("metrics-exact").retryPolicy(retry())
                .serializeInMemory(true).subscriberExceptionHandler((e, c) -> { }).build()) {
            EventBusMetrics.bind(bus, registry);
            runScenario(bus);
            await(() -> processCount(registry, "ack") == N + M);

            assertThat(processCount(registry, "ack")).isEqualTo(N + M);
            assertThat(processCount(registry, "retry")).isEqualTo(M);
            assertThat(processCount(registry, "dead")).isEqualTo(K);
            assertThat(registry.get(EventBusMetrics.PROCESS_DURATION).tag("outcome", "dead").timer().getId()
                    .getTag("error.type")).isEqualTo(Fatal.class.getName());
            assertThat(counter(registry, EventBusMetrics.PUBLISHED)).isEqualTo(N + M + K);
            assertThat(counter(registry, EventBusMetrics.RETRIES)).isEqualTo(M);
            assertThat(counter(registry, EventBusMetrics.DEAD_LETTERS)).isEqualTo(K);
            assertThat(counter(registry, EventBusMetrics.FAILURES)).isEqualTo(M + K);
            // Publishes through the chain are timed, tagged by transport, stream, type and outcome.
            Timer sent = registry.get(EventBusMetrics.PUBLISH_DURATION).tag("messaging.system", "memory")
                    .tag("messaging.destination.name", "metrics-jobs").tag("cloudevents.event_type", "metrics.job")
                    .tag("outcome", "success").timer();
            assertThat(sent.count()).isEqualTo(N + M + K);
            Timer ack = registry.get(EventBusMetrics.PROCESS_DURATION).tag("outcome", "ack")
                    .tag("messaging.consumer.group.name", "workers").tag("eventbus.service", "metrics-exact").timer();
            assertThat(ack.totalTime(TimeUnit.NANOSECONDS)).isPositive();
        }
    }

    @Test
    void onTheFastPathCountsStayExactAndOnlyTheRedeliveriesAreTimed() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (EventBus bus = EventBus.builder().service("metrics-fast").retryPolicy(retry())
                .subscriberExceptionHandler((e, c) -> { }).build()) {
            EventBusMetrics.bind(bus, registry);
            runScenario(bus);
            await(() -> counter(registry, EventBusMetrics.DELIVERED) == N + M);

            assertThat(counter(registry, EventBusMetrics.PUBLISHED)).isEqualTo(N + M + K);
            assertThat(counter(registry, EventBusMetrics.RETRIES)).isEqualTo(M);
            assertThat(counter(registry, EventBusMetrics.DEAD_LETTERS)).isEqualTo(K);
            assertThat(counter(registry, EventBusMetrics.FAILURES)).isEqualTo(M + K);
            // Delivered counts the N fast-path successes (counted on the publishing thread, never timed) and the
            // M redeliveries, which run through the in-memory transport: only those are observed and timed.
            assertThat(counter(registry, EventBusMetrics.DELIVERED)).isEqualTo(N + M);
            assertThat(processCount(registry, "ack")).isEqualTo(M);
            // A synchronous publish without options is neither timed nor observed.
            assertThat(registry.find(EventBusMetrics.PUBLISH_DURATION).timers()).isEmpty();
        }
    }

    @Test
    void asyncQueueDepthAndOverflowsAreGauged() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        CountDownLatch release = new CountDownLatch(1);
        try (EventBus bus = EventBus.builder().service("metrics-async")
                .asyncDispatch(1, 4, OverflowPolicy.FAIL, Duration.ofMillis(10)).build()) {
            EventBusMetrics.bind(bus, registry);
            CountDownLatch started = new CountDownLatch(1);
            bus.subscribe(Job.class, job -> {
                started.countDown();
                release.await();
            });
            bus.publish(new Job("first", "ok")).join();
            assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
            int failed = 0;
            for (int i = 0; i < 20; i++) {
                if (bus.publish(new Job("j-" + i, "ok")).isCompletedExceptionally()) {
                    failed++;
                }
            }
            Thread.sleep(30); // past the stats cache
            double queued = registry.get(EventBusMetrics.QUEUED).gauge().value();
            assertThat(queued).isEqualTo(20 - failed).isPositive();
            assertThat(counter(registry, EventBusMetrics.REJECTED)).isEqualTo(failed).isPositive();
            assertThat(counter(registry, EventBusMetrics.OVERFLOWS)).isGreaterThanOrEqualTo(failed);
            release.countDown();
            await(() -> registry.get(EventBusMetrics.QUEUED).gauge().value() == 0);
        } finally {
            release.countDown();
        }
    }

    @Test
    void closingTheBinderDetachesTheObserver() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (EventBus bus = EventBus.builder().service("metrics-close").serializeInMemory(true).build()) {
            bus.subscribe(Job.class, job -> { });
            EventBusMetrics metrics = EventBusMetrics.bind(bus, registry);
            bus.publish(new Job("a", "ok")).join();
            metrics.close();
            bus.publish(new Job("b", "ok")).join();
            assertThat(processCount(registry, "ack")).isEqualTo(1);
            Gauge g = registry.get(EventBusMetrics.QUEUED).gauge();
            assertThat(g.value()).isZero();
        }
    }

    @Test
    void filteredMessagesAreCountedAsSkippedWithTheirReason() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (EventBus bus = EventBus.builder().service("metrics-filter").serializeInMemory(true).build()) {
            AtomicInteger handled = new AtomicInteger();
            bus.subscribe(Job.class, "eu-only", Filter.header("region", "eu"), job -> handled.incrementAndGet());
            EventBusMetrics.bind(bus, registry);
            bus.publish(new Job("a", "ok"), PublishOptions.builder().header("region", "eu").build()).join();
            bus.publish(new Job("b", "ok"), PublishOptions.builder().header("region", "us").build()).join();
            bus.publish(new Job("c", "ok")).join();
            assertThat(handled).hasValue(1);
            double filtered = counterTagged(registry, EventBusMetrics.SKIPPED, "filtered");
            assertThat(filtered).isEqualTo(2.0);
        }
    }

    private static double counterTagged(SimpleMeterRegistry registry, String name, String reason) {
        try {
            Thread.sleep(25); // the function counters read a stats snapshot at most 20 ms old
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return registry.get(name).tag("reason", reason).functionCounter().count();
    }

    private static long processCount(SimpleMeterRegistry registry, String outcome) {
        return registry.find(EventBusMetrics.PROCESS_DURATION).tag("outcome", outcome).timers().stream()
                .mapToLong(Timer::count).sum();
    }

    private static double counter(SimpleMeterRegistry registry, String name) {
        try {
            Thread.sleep(25); // the function counters read a stats snapshot at most 20 ms old
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return registry.get(name).functionCounters().stream().mapToDouble(FunctionCounter::count).sum();
    }

    private static void await(BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 10 s");
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
