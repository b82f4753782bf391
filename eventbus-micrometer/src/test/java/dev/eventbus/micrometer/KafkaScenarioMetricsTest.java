package dev.eventbus.micrometer;

import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.RetryPolicy;
import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.kafka.testing.TestKafkaBroker;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The scenario on a real Kafka broker (in the test JVM): N events handled, M retried (through the retry
 * topic) then handled, K dead; every counter and timer equals N, M, K exactly; then the consumer stops, L more are
 * published, the group's lag is L, and 0 once a consumer drained them.
 */
class KafkaScenarioMetricsTest {

    private static final int N = 6;
    private static final int M = 3;
    private static final int K = 2;
    private static final int L = 5;

    @EventType(name = "scenario.job", stream = "scenario-jobs")
    record Job(String id, String kind) {
    }

    /** Refused at once, never retried: the K dead ones. */
    static final class Fatal extends RuntimeException {
        Fatal(String m) {
            super(m);
        }
    }

    @Test
    void nHandledMRetriedKDeadExactlyThenLagWhileStoppedAndZeroAfterDraining() throws Exception {
        String prefix = "scn-" + UUID.randomUUID().toString().substring(0, 8) + ".";
        String group = "scenario-workers";
        Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", TestKafkaBroker.bootstrapServers()));
             ConsumerLagMetrics lag = ConsumerLagMetrics.kafka(admin, List.of(group), Duration.ofHours(1));
             EventBus producer = EventBus.fromConfig(kafka("scn-producer", prefix))) {
            EventBusMetrics.bind(producer, registry);
            try (EventBus consumer = consumer(prefix)) {
                EventBusMetrics.bind(consumer, registry);
                consumer.subscribe(Job.class, group, job -> {
                    int n = calls.computeIfAbsent(job.id(), k -> new AtomicInteger()).incrementAndGet();
                    if (job.kind().equals("flaky") && n == 1) {
                        throw new IllegalStateException("first attempt of " + job.id());
                    }
                    if (job.kind().equals("bad")) {
                        throw new Fatal("cannot do " + job.id());
                    }
                });
                for (int i = 0; i < N; i++) {
                    producer.publish(new Job("ok-" + i, "ok")).get(30, TimeUnit.SECONDS);
                }
                for (int i = 0; i < M; i++) {
                    producer.publish(new Job("flaky-" + i, "flaky")).get(30, TimeUnit.SECONDS);
                }
                for (int i = 0; i < K; i++) {
                    producer.publish(new Job("bad-" + i, "bad")).get(30, TimeUnit.SECONDS);
                }
                await(() -> process(registry, "ack") == N + M && process(registry, "dead") == K);
                Thread.sleep(300); // nothing more may come

                assertThat(process(registry, "ack")).isEqualTo(N + M);
                assertThat(process(registry, "retry")).isEqualTo(M);
                assertThat(process(registry, "dead")).isEqualTo(K);
                assertThat(registry.get(EventBusMetrics.PROCESS_DURATION).tag("outcome", "dead").timer().getId()
                        .getTag("error.type")).isEqualTo(Fatal.class.getName());
                assertThat(count(registry, EventBusMetrics.DELIVERED, "scn-consumer")).isEqualTo(N + M);
                assertThat(count(registry, EventBusMetrics.FAILURES, "scn-consumer")).isEqualTo(M + K);
                assertThat(count(registry, EventBusMetrics.RETRIES, "scn-consumer")).isEqualTo(M);
                assertThat(count(registry, EventBusMetrics.DEAD_LETTERS, "scn-consumer")).isEqualTo(K);
                assertThat(count(registry, EventBusMetrics.PUBLISHED, "scn-producer")).isEqualTo(N + M + K);
                Timer sent = registry.get(EventBusMetrics.PUBLISH_DURATION).tag("eventbus.service", "scn-producer")
                        .tag("messaging.system", "kafka").tag("messaging.destination.name", "scenario-jobs")
                        .tag("outcome", "success").timer();
                assertThat(sent.count()).isEqualTo(N + M + K);
                assertThat(calls.values().stream().mapToInt(AtomicInteger::get).sum())
                        .as("invocations: N once, M twice, K once (fatal: not retried)").isEqualTo(N + 2 * M + K);
            } // the consumer commits what it decided and stops

            for (int i = 0; i < L; i++) {
                producer.publish(new Job("late-" + i, "ok")).get(30, TimeUnit.SECONDS);
            }
            SimpleMeterRegistry lagRegistry = new SimpleMeterRegistry();
            lag.bindTo(lagRegistry);
            assertThat(lag(lagRegistry, group)).as("lag while the consumer is stopped").isEqualTo(L);

            SimpleMeterRegistry second = new SimpleMeterRegistry(); // the first bus's counters stay in the first
            try (EventBus consumer = consumer(prefix)) {
                EventBusMetrics.bind(consumer, second);
                consumer.subscribe(Job.class, group, job -> calls.computeIfAbsent(job.id(), k -> new AtomicInteger())
                        .incrementAndGet());
                await(() -> count(second, EventBusMetrics.DELIVERED, "scn-consumer") == L);
                await(() -> {
                    lag.refresh();
                    return lag(lagRegistry, group) == 0;
                });
                assertThat(count(second, EventBusMetrics.DELIVERED, "scn-consumer")).isEqualTo(L);
                assertThat(count(second, EventBusMetrics.FAILURES, "scn-consumer")).isZero();
                assertThat(calls.keySet()).as("nothing decided before the stop came again").hasSize(N + M + K + L);
            }
        }
    }

    private static EventBus consumer(String prefix) {
        return EventBus.builder().config(kafka("scn-consumer", prefix))
                .retryPolicy(RetryPolicy.builder().maxAttempts(3).immediateRetries(0)
                        .initialDelay(Duration.ofMillis(50)).maxDelay(Duration.ofMillis(50)).jitter(0)
                        .abortOn(Fatal.class).build())
                .subscriberExceptionHandler((e, c) -> { })
                .build();
    }

    private static long process(SimpleMeterRegistry registry, String outcome) {
        return registry.find(EventBusMetrics.PROCESS_DURATION).tag("outcome", outcome)
                .tag("messaging.system", "kafka").timers().stream().mapToLong(Timer::count).sum();
    }

    private static double count(SimpleMeterRegistry registry, String name, String service) {
        try {
            Thread.sleep(25); // the function counters read a stats snapshot at most 20 ms old
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return registry.get(name).tag("eventbus.service", service).functionCounters().stream()
                .mapToDouble(FunctionCounter::count).sum();
    }

    private static double lag(SimpleMeterRegistry registry, String group) {
        return registry.get(ConsumerLagMetrics.LAG).tag("messaging.consumer.group.name", group)
                .tag("messaging.system", "kafka").gauges().stream().mapToDouble(Gauge::value).sum();
    }

    private static Properties kafka(String service, String prefix) {
        Properties p = new Properties();
        p.setProperty("eventbus.service", service);
        p.setProperty("eventbus.transport", "kafka");
        p.setProperty(KafkaConfig.BOOTSTRAP_SERVERS, TestKafkaBroker.bootstrapServers());
        p.setProperty(KafkaConfig.TOPIC_PREFIX, prefix);
        p.setProperty("eventbus.kafka.consumer.heartbeat.interval.ms", "200");
        return p;
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 60 s");
            }
            Thread.sleep(50);
        }
    }
}
