package dev.eventbus.rabbitmq;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * Test fixture for the real RabbitMQ server at {@code EVENTBUS_TEST_RABBITMQ_URI} (default the local one): builds
 * configs with a unique topology prefix per test class and deletes everything the transports declared afterwards.
 */
final class RabbitMqTestSupport {

    static final String URI = System.getenv().getOrDefault("EVENTBUS_TEST_RABBITMQ_URI", "amqp://guest:guest@localhost:5672/");

    private final String prefix = "ebtest-" + UUID.randomUUID().toString().substring(0, 8) + ".";
    private final List<RabbitMqTransport> transports = new ArrayList<>();

    /** Fails (never skips) with how to start the server when it is unreachable. */
    static void requireBroker() {
        try (Connection c = rawFactory().newConnection("eventbus-test-probe")) {
            c.createChannel().close();
        } catch (Exception e) {
            throw new AssertionError("RabbitMQ is not reachable at " + RabbitMqConfig.builder().uri(URI).build().describeBroker()
                    + " (" + e + "). Start the local server with `rabbitmq-server -detached` (no plugin needed), or point "
                    + "EVENTBUS_TEST_RABBITMQ_URI at one.", e);
        }
    }

    static ConnectionFactory rawFactory() {
        RabbitMqConfig c = RabbitMqConfig.builder().uri(URI).build();
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(c.host());
        f.setPort(c.port());
        f.setUsername(c.username());
        f.setPassword(c.password());
        f.setVirtualHost(c.virtualHost());
        f.setAutomaticRecoveryEnabled(false);
        return f;
    }

    String prefix() {
        return prefix;
    }

    RabbitMqConfig.Builder config() {
        return RabbitMqConfig.builder().uri(URI).serviceName("eventbus-test").prefix(prefix)
                .rebalanceInterval(Duration.ofMillis(200)).recoveryInterval(Duration.ofMillis(500))
                .publishTimeout(Duration.ofSeconds(20));
    }

    RabbitMqTransport transport() {
        return track(RabbitMqTransport.create(config().build()));
    }

    RabbitMqTransport track(RabbitMqTransport t) {
        synchronized (transports) {
            transports.add(t);
        }
        return t;
    }

    /** Closes every transport and deletes every queue and exchange they declared. */
    void cleanUp() {
        List<RabbitMqTransport> all;
        synchronized (transports) {
            all = new ArrayList<>(transports);
            transports.clear();
        }
        List<String> queues = new ArrayList<>();
        List<String> exchanges = new ArrayList<>();
        for (RabbitMqTransport t : all) {
            t.close(Duration.ofSeconds(5));
            queues.addAll(t.declaredQueues());
            exchanges.addAll(t.declaredExchanges());
        }
        try (Connection c = rawFactory().newConnection("eventbus-test-cleanup")) {
            for (String q : queues.stream().distinct().toList()) {
                Channel ch = c.createChannel();
                try {
                    ch.queueDelete(q);
                    ch.close();
                } catch (IOException e) {
                    // already gone
                }
            }
            for (String x : exchanges.stream().distinct().toList()) {
                Channel ch = c.createChannel();
                try {
                    ch.exchangeDelete(x);
                    ch.close();
                } catch (IOException e) {
                    // already gone
                }
            }
            // Sweep whatever else carries this class's prefix (a bus built from configuration, lock queues).
            for (String kind : List.of("list_queues", "list_exchanges")) {
                for (String name : rabbitmqctlNames(kind)) {
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
                        // exclusive to another connection or already gone
                    }
                }
            }
        } catch (Exception e) {
            throw new AssertionError("could not clean up test topology " + prefix + "*: " + e, e);
        }
    }

    /** Names listed by rabbitmqctl on this machine; empty when it is not available (a remote broker). */
    private static List<String> rabbitmqctlNames(String command) {
        try {
            Process p = new ProcessBuilder("rabbitmqctl", command, "-q", "name").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
                return List.of();
            }
            return out.lines().map(String::trim).filter(l -> !l.isEmpty()).toList();
        } catch (IOException e) {
            return List.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return List.of();
        }
    }

    static void sleep(long ms) {
        try {
            TimeUnit.MILLISECONDS.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
