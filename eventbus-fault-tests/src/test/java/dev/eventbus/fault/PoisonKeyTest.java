package dev.eventbus.fault;

import dev.eventbus.EventBus;
import dev.eventbus.RetryPolicy;
import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.kafka.KafkaTransport;
import dev.eventbus.kafka.testing.TestKafkaBroker;
import dev.eventbus.spi.Transport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Case 4: a poison key among healthy keys. One key's handler always fails; the retry ladder (an immediate retry,
 * then delayed redeliveries through the transport) runs its course and parks each of its events in the dead
 * letters. Meanwhile the healthy keys' latency (publish to handler, same JVM) stays bounded: it is measured once
 * without the poison key and once with it, and p50/p99 of both are printed. Kafka runs the poisoned case in both
 * retry modes: through the retry topic (default) and in memory ({@code eventbus.kafka.retry-topics=false}).
 */
class PoisonKeyTest {

    private static final int HEALTHY_KEYS = 10;
    private static final int HEALTHY_EVENTS = 600;
    /** Every 10th publish is for the poison key. */
    private static final int POISON_EVERY = 10;
    private static final long PUBLISH_EVERY_MS = 4;
    private static final RetryPolicy LADDER = RetryPolicy.builder().maxAttempts(4).immediateRetries(1)
            .initialDelay(Duration.ofMillis(100)).multiplier(2).maxDelay(Duration.ofMillis(400)).build();
    /** 0 + 100 + 200 + 400 ms: the longest one poison event may legitimately hold anything. */
    private static final long RETRY_WINDOW_MS = 700;

    private static final String RABBIT_PREFIX = Figures.unique("fault") + ".";

    @AfterAll
    static void cleanUp() {
        Brokers.sweepRabbit(RABBIT_PREFIX);
    }

    @Test
    void onKafkaAPoisonKeyDoesNotHoldUpHealthyKeysAndEndsInTheDeadLetters() throws Exception {
        Run base = run(Brokers.kafka("fault-poison"), false);
        check("kafka", base, run(Brokers.kafka("fault-poison"), true));
        // The other retry mode: the failing record waits in memory instead of in a retry topic.
        check("kafka-in-memory-retries", base, run(KafkaTransport.create(KafkaConfig.builder()
                .serviceName("fault-poison").bootstrapServers(TestKafkaBroker.bootstrapServers())
                .set("partitions", "3").set("consumer.heartbeat.interval.ms", "200").set("retry-topics", "false")
                .build()), true));
    }

    @Test
    void onRabbitMqAPoisonKeyDoesNotHoldUpHealthyKeysAndEndsInTheDeadLetters() throws Exception {
        Transport t = Brokers.rabbit("fault-poison", RABBIT_PREFIX);
        check("rabbitmq", run(t, false), run(Brokers.rabbit("fault-poison", RABBIT_PREFIX), true));
    }

    private static void check(String name, Run base, Run poisoned) {
        double baseP99 = Figures.percentileMillis(base.latencies, 99);
        double poisonP99 = Figures.percentileMillis(poisoned.latencies, 99);
        double bound = Math.max(3 * baseP99, baseP99 + RETRY_WINDOW_MS + 2_000);
        Figures.print("poison-key-" + name, "healthy-events", HEALTHY_EVENTS, "poison-events", poisoned.poison,
                "healthy-p50-without", Figures.ms(Figures.percentileMillis(base.latencies, 50)),
                "healthy-p99-without", Figures.ms(baseP99),
                "healthy-p50-with", Figures.ms(Figures.percentileMillis(poisoned.latencies, 50)),
                "healthy-p99-with", Figures.ms(poisonP99),
                "healthy-max-with", Figures.ms(Figures.percentileMillis(poisoned.latencies, 100)),
                "bound", Figures.ms(bound), "poison-handler-calls", poisoned.poisonCalls,
                "dead-lettered", poisoned.deadLettered);
        assertThat(base.deadLettered).as("dead letters without a poison key").isZero();
        assertThat(poisoned.deadLettered).as("every poison event ends in the dead letters").isEqualTo(poisoned.poison);
        assertThat(poisoned.poisonCalls).as("each poison event tried maxAttempts times (at least)")
                .isGreaterThanOrEqualTo(poisoned.poison * (long) LADDER.maxAttempts());
        assertThat(poisonP99).as("healthy keys' p99 latency with the poison key (ms), without it %.1f ms", baseP99)
                .isLessThan(bound);
    }

    private record Run(List<Long> latencies, int poison, long poisonCalls, int deadLettered) {
    }

    private static Run run(Transport transport, boolean withPoison) throws Exception {
        String stream = Figures.unique("fault-poison");
        // Unique too: Kafka lists a group's dead letters from every dead-letter topic of the cluster.
        String group = Figures.unique("healthy");
        List<Long> latencies = Collections.synchronizedList(new ArrayList<>());
        AtomicLong poisonCalls = new AtomicLong();
        try (EventBus bus = EventBus.builder().service("fault-poison").defaultStream(stream).transport(transport)
                .retryPolicy(LADDER).concurrency(4).build()) {
            bus.subscribe(Tick.class, group, e -> {
                if (e.key().equals("poison")) {
                    poisonCalls.incrementAndGet();
                    throw new IllegalStateException("poison event " + e.id() + " always fails");
                }
                if (e.sentNanos() > 0) {
                    latencies.add(System.nanoTime() - e.sentNanos());
                }
            });
            bus.publish(new Tick("warm-up", 0, 0)).get(); // consumer in place before the clock runs
            Figures.await("the subscription is consuming", Duration.ofSeconds(60),
                    () -> bus.stats().delivered() > 0, bus::stats);
            int poison = 0;
            List<java.util.concurrent.CompletableFuture<Void>> sent = new ArrayList<>();
            for (int i = 0, healthy = 0; healthy < HEALTHY_EVENTS; i++) {
                if (withPoison && i % POISON_EVERY == POISON_EVERY - 1) {
                    sent.add(bus.publish(new Tick("poison", poison++, 0)));
                } else {
                    sent.add(bus.publish(new Tick("k" + (healthy % HEALTHY_KEYS), healthy, System.nanoTime())));
                    healthy++;
                }
                Thread.sleep(PUBLISH_EVERY_MS);
            }
            for (var f : sent) {
                f.get();
            }
            Figures.await("every healthy event is handled", Duration.ofSeconds(60),
                    () -> latencies.size() >= HEALTHY_EVENTS, latencies::size);
            int expectedDead = poison;
            Figures.await("every poison event is dead-lettered", Duration.ofSeconds(60),
                    () -> bus.deadLetters().list(group, 10_000).size() >= expectedDead,
                    () -> bus.deadLetters().list(group, 10_000).size() + " of " + expectedDead);
            return new Run(new ArrayList<>(latencies), poison, poisonCalls.get(),
                    bus.deadLetters().list(group, 10_000).size());
        }
    }
}
