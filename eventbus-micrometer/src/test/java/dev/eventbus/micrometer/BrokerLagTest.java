package dev.eventbus.micrometer;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.kafka.testing.TestKafkaBroker;
import dev.eventbus.rabbitmq.RabbitMqConfig;
import dev.eventbus.rabbitmq.RabbitMqTransport;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/** Consumer lag on the real brokers: positive while the group's consumer is stopped, 0 once it drained. */
class BrokerLagTest {

    static final String RABBIT_URI = System.getenv().getOrDefault("EVENTBUS_TEST_RABBITMQ_URI",
            "amqp://guest:guest@localhost:5672/");

    @EventType(name = "lag.tick", stream = "lag-ticks")
    record Tick(int n) {
    }

    @Test
    void kafkaLagPerPartition() throws Exception {
        String prefix = "lag-" + UUID.randomUUID().toString().substring(0, 8) + ".";
        String group = "kafka-lag-group";
        List<Tick> got = new CopyOnWriteArrayList<>();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (Admin admin = Admin.create(Map.of("bootstrap.servers", TestKafkaBroker.bootstrapServers()));
             ConsumerLagMetrics lag = ConsumerLagMetrics.kafka(admin, List.of(group), Duration.ofHours(1))) {
            try (EventBus consumer = EventBus.fromConfig(kafka("lag-consumer", prefix));
                 EventBus producer = EventBus.fromConfig(kafka("lag-producer", prefix))) {
                consumer.subscribe(Tick.class, group, got::add);
                producer.publish(new Tick(0)).get(30, TimeUnit.SECONDS);
                await(() -> got.size() == 1);
            } // the consumer commits what it handled and stops
            try (EventBus producer = EventBus.fromConfig(kafka("lag-producer", prefix))) {
                for (int i = 1; i <= 5; i++) {
                    producer.publish(new Tick(i)).get(30, TimeUnit.SECONDS);
                }
            }
            lag.bindTo(registry);
            assertThat(total(registry, group, "kafka")).isEqualTo(5);
            // Per partition of the stream's topic (the group also has offsets on its retry topic: lag 0 there).
            assertThat(registry.get(ConsumerLagMetrics.LAG).tag("messaging.consumer.group.name", group)
                    .tag("messaging.destination.name", prefix + "lag-ticks").gauges())
                    .extracting(g -> g.getId().getTag("messaging.destination.partition.id")).doesNotHaveDuplicates()
                    .isNotEmpty();
            assertThat(registry.get(ConsumerLagMetrics.LAG).tag("messaging.consumer.group.name", group)
                    .tag("messaging.destination.name", prefix + "lag-ticks").gauges().stream()
                    .mapToDouble(Gauge::value).sum()).isEqualTo(5);

            try (EventBus consumer = EventBus.fromConfig(kafka("lag-consumer", prefix))) {
                consumer.subscribe(Tick.class, group, got::add);
                await(() -> got.size() == 6);
                await(() -> {
                    lag.refresh();
                    return total(registry, group, "kafka") == 0;
                });
            }
        }
    }

    @Test
    void rabbitMqQueueDepth() throws Exception {
        requireRabbitMq();
        String prefix = "lag-" + UUID.randomUUID().toString().substring(0, 8) + ".";
        String group = "rabbit-lag-group";
        String queue = prefix + "lag-ticks." + group;
        List<Tick> got = new CopyOnWriteArrayList<>();
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (ConsumerLagMetrics lag = ConsumerLagMetrics.rabbitmq(factory(), Map.of(queue, group),
                Duration.ofHours(1))) {
            try (EventBus consumer = rabbitBus("lag-consumer", prefix)) {
                consumer.subscribe(Tick.class, group, got::add); // declares and binds the group's durable queue
            }
            try (EventBus producer = rabbitBus("lag-producer", prefix)) {
                for (int i = 1; i <= 5; i++) {
                    producer.publish(new Tick(i)).get(30, TimeUnit.SECONDS);
                }
            }
            lag.bindTo(registry);
            assertThat(total(registry, group, "rabbitmq")).isEqualTo(5);
            try (EventBus consumer = rabbitBus("lag-consumer", prefix)) {
                consumer.subscribe(Tick.class, group, got::add);
                await(() -> got.size() == 5);
                await(() -> {
                    lag.refresh();
                    return total(registry, group, "rabbitmq") == 0;
                });
            }
        } finally {
            deleteTopology(prefix);
        }
    }

    private static double total(SimpleMeterRegistry registry, String group, String system) {
        return registry.get(ConsumerLagMetrics.LAG).tag("messaging.consumer.group.name", group)
                .tag("messaging.system", system).gauges().stream().mapToDouble(Gauge::value).sum();
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

    private static EventBus rabbitBus(String service, String prefix) {
        RabbitMqTransport t = RabbitMqTransport.create(RabbitMqConfig.builder().uri(RABBIT_URI).serviceName(service)
                .prefix(prefix).build());
        // One queue per group: per-key order on RabbitMQ would need a plugin a stock server lacks.
        return EventBus.builder().service(service).transport(t).orderedByKey(false).build();
    }

    private static ConnectionFactory factory() {
        RabbitMqConfig c = RabbitMqConfig.builder().uri(RABBIT_URI).build();
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(c.host());
        f.setPort(c.port());
        f.setUsername(c.username());
        f.setPassword(c.password());
        f.setVirtualHost(c.virtualHost());
        f.setAutomaticRecoveryEnabled(false);
        return f;
    }

    /** Fails (never skips) with how to start the server when it is unreachable. */
    private static void requireRabbitMq() {
        try (Connection c = factory().newConnection("eventbus-metrics-test-probe")) {
            c.createChannel().close();
        } catch (Exception e) {
            throw new AssertionError("RabbitMQ is not reachable at " + RABBIT_URI + " (" + e + "). Start the local "
                    + "server with `rabbitmq-server -detached`, or point EVENTBUS_TEST_RABBITMQ_URI at one.", e);
        }
    }

    /** Deletes every queue and exchange named with this test's prefix. */
    private static void deleteTopology(String prefix) {
        try (Connection c = factory().newConnection("eventbus-metrics-test-cleanup")) {
            for (String kind : List.of("list_queues", "list_exchanges")) {
                for (String name : rabbitmqctl(kind)) {
                    if (!name.startsWith(prefix)) {
                        continue;
                    }
                    Channel ch = c.createChannel();
                    try {
                        if (kind.equals("list_queues")) {
                            ch.queueDelete(name);
                        } else {
                            ch.exchangeDelete(name);
                        }
                        ch.close();
                    } catch (Exception e) {
                        // already gone
                    }
                }
            }
        } catch (Exception e) {
            System.err.println("could not clean up RabbitMQ topology " + prefix + "*: " + e);
        }
    }

    private static List<String> rabbitmqctl(String kind) {
        List<String> names = new ArrayList<>();
        try {
            Process p = new ProcessBuilder("rabbitmqctl", "-q", kind, "name").redirectErrorStream(true).start();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    names.add(line.trim());
                }
            }
            p.waitFor(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            System.err.println("rabbitmqctl " + kind + " failed: " + e);
        }
        return names;
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
