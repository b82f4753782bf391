package dev.eventbus.fault;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.kafka.KafkaTransport;
import dev.eventbus.kafka.testing.TestKafkaBroker;
import dev.eventbus.rabbitmq.RabbitMqConfig;
import dev.eventbus.rabbitmq.RabbitMqTransport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** The shared brokers the latency and close cases run on: the JVM's test Kafka broker and the local RabbitMQ. */
final class Brokers {

    static final String RABBIT_URI = System.getenv().getOrDefault("EVENTBUS_TEST_RABBITMQ_URI",
            "amqp://guest:guest@localhost:5672/");

    private Brokers() {
    }

    static KafkaTransport kafka(String service) {
        return KafkaTransport.create(KafkaConfig.builder().serviceName(service)
                .bootstrapServers(TestKafkaBroker.bootstrapServers())
                .set("partitions", "3").set("consumer.heartbeat.interval.ms", "200").build());
    }

    /** A RabbitMQ transport whose queues and exchanges all start with {@code prefix} (see {@link #sweepRabbit}). */
    static RabbitMqTransport rabbit(String service, String prefix) {
        requireRabbit();
        return RabbitMqTransport.create(RabbitMqConfig.builder().uri(RABBIT_URI).serviceName(service).prefix(prefix)
                .rebalanceInterval(Duration.ofMillis(200)).recoveryInterval(Duration.ofMillis(500))
                .publishTimeout(Duration.ofSeconds(20)).build());
    }

    static void requireRabbit() {
        try (Connection c = factory().newConnection("eventbus-fault-probe")) {
            c.createChannel().close();
        } catch (Exception e) {
            throw new AssertionError("RabbitMQ is not reachable at " + RABBIT_URI + " (" + e + "). Start the local "
                    + "server with `rabbitmq-server -detached` (no plugin needed), or set EVENTBUS_TEST_RABBITMQ_URI.",
                    e);
        }
    }

    /** Deletes every queue and exchange of the local server whose name starts with {@code prefix}. */
    static void sweepRabbit(String prefix) {
        try (Connection c = factory().newConnection("eventbus-fault-cleanup")) {
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
                    } catch (IOException e) {
                        // already gone
                    }
                }
            }
        } catch (Exception e) {
            System.err.println("[Brokers] could not clean up RabbitMQ topology " + prefix + "*: " + e);
        }
    }

    /** Read through the transport's own URI rules (a trailing slash is the default vhost, as for the bus). */
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

    private static List<String> rabbitmqctl(String command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("rabbitmqctl", command, "-q", "name").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            return List.of();
        }
        return out.lines().map(String::trim).filter(l -> !l.isEmpty()).toList();
    }
}
