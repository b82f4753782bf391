package dev.eventbus.fault;

import dev.eventbus.EventBus;
import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.kafka.KafkaTransport;
import dev.eventbus.kafka.testing.TestKafkaBroker;
import dev.eventbus.rabbitmq.RabbitMqConfig;
import dev.eventbus.rabbitmq.RabbitMqTransport;
import kafka.server.BrokerServer;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Cases 2 and 3: the broker goes away and comes back while the bus publishes at a steady pace and consumes. Every
 * publish whose future completed successfully (broker confirm / {@code acks=all}) is consumed afterwards: 0
 * confirmed-then-lost. Publishes made during the outage either wait and complete after the restart, or fail after
 * the transport's publish timeout; both are counted.
 *
 * <p>RabbitMQ: a node of the test's own ({@link RabbitNode}) on its own ports, stopped with {@code rabbitmqctl stop}
 * and started again on the same data. Kafka: a private in-JVM broker ({@link TestKafkaBroker#startPrivate()})
 * whose broker server is shut down and started again on the same port and log directories (the KRaft controller
 * stays up).
 */
class BrokerRestartTest {

    private static final long PUBLISH_EVERY_MS = 5;

    /** What the two cases share: a broker that can be stopped and started. */
    private interface Restartable {
        void stop() throws Exception;

        void start() throws Exception;
    }

    @Test
    void rabbitMqNodeStopAndStartDuringConfirmedPublishingLosesNoConfirmedMessage() throws Exception {
        try (RabbitNode node = new RabbitNode()) {
            node.start();
            RabbitMqTransport transport = RabbitMqTransport.create(RabbitMqConfig.builder().uri(node.uri())
                    .serviceName("fault-rabbit").prefix(Figures.unique("fault") + ".")
                    .recoveryInterval(Duration.ofMillis(500)).publishTimeout(Duration.ofSeconds(10)).build());
            run("rabbitmq-node-restart", transport, new Restartable() {
                @Override
                public void stop() throws Exception {
                    node.stop();
                }

                @Override
                public void start() throws Exception {
                    node.start();
                }
            }, Duration.ofSeconds(10));
        }
    }

    @Test
    void kafkaBrokerRestartDuringPublishAndConsumeLosesNoAcknowledgedRecord() throws Exception {
        try (TestKafkaBroker.Private broker = TestKafkaBroker.startPrivate()) {
            KafkaTransport transport = KafkaTransport.create(KafkaConfig.builder().serviceName("fault-kafka")
                    .bootstrapServers(broker.bootstrapServers()).set("partitions", "3")
                    .set("publish-timeout", "10s").set("consumer.heartbeat.interval.ms", "200").build());
            BrokerServer server = broker.kit().brokers().values().iterator().next();
            run("kafka-broker-restart", transport, new Restartable() {
                @Override
                public void stop() {
                    server.shutdown();
                }

                @Override
                public void start() {
                    server.startup();
                }
            }, Duration.ofSeconds(10));
        }
    }

    private static void run(String name, dev.eventbus.spi.Transport transport, Restartable broker,
                            Duration publishTimeout) throws Exception {
        String stream = Figures.unique("fault-restart");
        Set<String> received = ConcurrentHashMap.newKeySet();
        AtomicLong deliveries = new AtomicLong();
        try (EventBus bus = EventBus.builder().service("fault-restart").defaultStream(stream).transport(transport)
                .build()) {
            bus.subscribe(Tick.class, "consumer", e -> {
                received.add(e.id());
                deliveries.incrementAndGet();
            });
            // The consumer is in place (queue bound / partitions assigned) before the run starts.
            bus.publish(new Tick("warm-up", 0, 0)).get();
            Figures.await("the warm-up event is consumed", Duration.ofSeconds(60),
                    () -> received.contains("warm-up:0"), () -> received.size());
            received.clear();
            deliveries.set(0);

            List<SteadyPublisher.Sent> sent;
            long down;
            long up;
            long recovered;
            try (SteadyPublisher publisher = new SteadyPublisher(bus, 10, PUBLISH_EVERY_MS)) {
                Thread.sleep(2_000);
                down = System.nanoTime();
                broker.stop();
                Thread.sleep(1_000);
                broker.start();
                up = System.nanoTime();
                // Publish on until a publish made after the restart is confirmed, then 1 s more.
                int mark = publisher.count();
                Figures.await("a publish made after the restart is confirmed", Duration.ofSeconds(90),
                        () -> publisher.sent().stream().skip(mark).anyMatch(SteadyPublisher.Sent::confirmed),
                        () -> publisher.count() + " publishes");
                recovered = System.nanoTime();
                Thread.sleep(1_000);
                sent = publisher.stopAndAwait(publishTimeout.plusSeconds(30));
            }
            Set<String> confirmed = SteadyPublisher.confirmedIds(sent);
            Figures.await("every confirmed publish is consumed", Duration.ofSeconds(90),
                    () -> received.containsAll(confirmed), () -> lost(confirmed, received).size() + " missing");
            Thread.sleep(300);
            long failed = sent.stream().filter(s -> !s.confirmed()).count();
            long duringOutage = sent.stream().filter(s -> s.sentNanos >= down && s.sentNanos < up).count();
            long heldThenConfirmed = sent.stream().filter(s -> s.confirmed() && s.sentNanos < up
                    && s.completedNanos > up).count();
            long failedButConsumed = sent.stream().filter(s -> !s.confirmed() && received.contains(s.id)).count();
            Set<String> lost = lost(confirmed, received);
            Figures.print(name, "published", sent.size(), "confirmed", confirmed.size(), "failed", failed,
                    "published-while-down", duringOutage, "held-then-confirmed-after-restart", heldThenConfirmed,
                    "failed-but-delivered", failedButConsumed, "consumed-distinct", received.size(),
                    "redelivered-duplicates", deliveries.get() - received.size(),
                    "outage", Figures.ms((up - down) / 1e6), "first-confirm-after-restart",
                    Figures.ms((recovered - up) / 1e6), "confirmed-then-lost", lost.size());
            assertThat(lost).as("confirmed publishes never consumed").isEmpty();
            assertThat(confirmed.size()).as("publishes confirmed (the run did something)").isGreaterThan(50);
        }
    }

    private static Set<String> lost(Set<String> confirmed, Set<String> received) {
        Set<String> lost = new HashSet<>(confirmed);
        lost.removeAll(received);
        return lost;
    }
}
