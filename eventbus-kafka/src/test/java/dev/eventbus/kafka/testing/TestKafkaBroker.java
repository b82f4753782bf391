package dev.eventbus.kafka.testing;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;
import org.apache.kafka.server.common.MetadataVersion;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One real Kafka broker (KRaft, combined broker and controller) per JVM, for tests, examples and benchmarks.
 *
 * <p>{@link #bootstrapServers()} starts it on first use (about 2 s) from the Maven Central artifacts
 * {@code kafka-test-common-runtime} and friends, and a shutdown hook stops it and deletes its data when the
 * JVM exits. When the environment variable (or system property) {@value #BOOTSTRAP_ENV} is set, no broker is
 * started: its value is returned after checking that a broker answers there.
 *
 * <p>The broker follows {@code shared/KAFKA-TEST-BROKER.md}: unstable API and feature versions off,
 * replication factors 1 for the internal topics, no initial rebalance delay. Its listener binds on all
 * interfaces and advertises {@code localhost} on a random port.
 *
 * <p>Thread-safe: concurrent first calls start one broker. Blocks while it starts. Never throws checked
 * exceptions; a broker that cannot be started or reached fails with an {@link IllegalStateException} that
 * says how to provide one.
 */
public final class TestKafkaBroker {

    /** Environment variable (or system property) naming an already running broker to use instead. */
    public static final String BOOTSTRAP_ENV = "EVENTBUS_TEST_KAFKA_BOOTSTRAP";

    private static final Object LOCK = new Object();
    private static volatile String bootstrap;
    private static KafkaClusterTestKit cluster;

    private TestKafkaBroker() {
    }

    /** The broker's {@code bootstrap.servers}, starting the in-JVM broker on first call unless one is configured. */
    public static String bootstrapServers() {
        String b = bootstrap;
        if (b != null) {
            return b;
        }
        synchronized (LOCK) {
            if (bootstrap == null) {
                String external = external();
                bootstrap = external != null ? checkReachable(external) : start();
            }
            return bootstrap;
        }
    }

    /** True when this JVM started its own broker (rather than using {@value #BOOTSTRAP_ENV}). */
    public static boolean isEmbedded() {
        synchronized (LOCK) {
            return cluster != null;
        }
    }

    /** An admin client for the broker; the caller closes it. */
    public static Admin admin() {
        return Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers()));
    }

    private static String external() {
        String v = System.getProperty(BOOTSTRAP_ENV);
        if (v == null || v.isBlank()) {
            v = System.getenv(BOOTSTRAP_ENV);
        }
        return v == null || v.isBlank() ? null : v.trim();
    }

    private static String start() {
        long t0 = System.nanoTime();
        try {
            // Our own base directory: the kit's default one is deleted by a shutdown hook of its own, racing
            // with the broker's shutdown in ours.
            Path base = Files.createTempDirectory("eventbus-test-kafka-");
            KafkaClusterTestKit kit = newCluster(base);
            kit.startup();
            kit.waitForReadyBrokers();
            cluster = kit;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(base), "test-kafka-broker-stop"));
            String servers = kit.bootstrapServers();
            warmUpGroupCoordinator(servers);
            System.err.printf("[TestKafkaBroker] Kafka broker started at %s in %d ms%n", servers,
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
            return servers;
        } catch (Exception e) {
            throw new IllegalStateException("Could not start the in-JVM Kafka test broker (" + e + "). Either fix "
                    + "the test classpath (kafka-test-common-runtime, kafka-clients:test and bcpkix at the "
                    + "kafka-clients version) or start a broker yourself and set " + BOOTSTRAP_ENV
                    + "=host:port.", e);
        }
    }

    /**
     * A broker of the caller's own, for tests that stop it (broker outages); the caller closes it, which stops the
     * broker and deletes its data. About 2 s to start. Not shared, never {@value #BOOTSTRAP_ENV}.
     */
    public static Private startPrivate() {
        try {
            Path base = Files.createTempDirectory("eventbus-test-kafka-private-");
            KafkaClusterTestKit kit = newCluster(base);
            kit.startup();
            kit.waitForReadyBrokers();
            return new Private(kit, base);
        } catch (Exception e) {
            throw new IllegalStateException("Could not start a private in-JVM Kafka test broker: " + e, e);
        }
    }

    /** A broker started by {@link #startPrivate()}. */
    public static final class Private implements AutoCloseable {
        private final KafkaClusterTestKit kit;
        private final Path base;
        private final String servers;
        private boolean closed;

        private Private(KafkaClusterTestKit kit, Path base) {
            this.kit = kit;
            this.base = base;
            this.servers = kit.bootstrapServers();
        }

        public String bootstrapServers() {
            return servers;
        }

        /** The cluster itself, for tests that stop and start its broker (the fault suite's broker restart). */
        public KafkaClusterTestKit kit() {
            return kit;
        }

        /** Stops the broker (its clients see an outage) and deletes its data. */
        @Override
        public synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            try {
                kit.close();
            } catch (Exception e) {
                System.err.println("[TestKafkaBroker] closing a private broker failed: " + e);
            }
            deleteRecursively(base);
        }
    }

    private static KafkaClusterTestKit newCluster(Path base) throws Exception {
        KafkaClusterTestKit kit = new KafkaClusterTestKit.Builder(new TestKitNodes.Builder()
                .setBaseDirectory(base)
                .setCombined(true)
                .setNumBrokerNodes(1)
                .setNumControllerNodes(1)
                .setBootstrapMetadataVersion(MetadataVersion.LATEST_PRODUCTION)
                .build())
                .setConfigProp("unstable.api.versions.enable", "false")
                .setConfigProp("unstable.feature.versions.enable", "false")
                .setConfigProp("offsets.topic.replication.factor", "1")
                .setConfigProp("transaction.state.log.replication.factor", "1")
                .setConfigProp("transaction.state.log.min.isr", "1")
                .setConfigProp("group.initial.rebalance.delay.ms", "0")
                .build();
        // format() prints the bootstrap metadata to stdout; an example's output is no place for it.
        java.io.PrintStream out = System.out;
        System.setOut(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
        try {
            kit.format();
        } finally {
            System.setOut(out);
        }
        return kit;
    }

    private static String checkReachable(String servers) {
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, servers,
                AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000,
                AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000))) {
            admin.describeCluster().clusterId().get(15, TimeUnit.SECONDS);
            return servers;
        } catch (Exception e) {
            throw new IllegalStateException("No Kafka broker answers at " + BOOTSTRAP_ENV + "=" + servers + " (" + e
                    + "). Start one there, or unset " + BOOTSTRAP_ENV + " so the tests start their own broker "
                    + "inside the JVM.", e);
        }
    }

    /**
     * The first consumer group on a fresh broker waits while {@code __consumer_offsets} is created and loaded
     * (seconds); do it now so the first test's timing is like every other's.
     */
    private static void warmUpGroupCoordinator(String servers) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, servers))) {
            while (System.nanoTime() < deadline) {
                try {
                    admin.listConsumerGroupOffsets("eventbus-test-warm-up").partitionsToOffsetAndMetadata()
                            .get(10, TimeUnit.SECONDS);
                    return;
                } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                    Thread.sleep(100); // coordinator not available / loading yet
                }
            }
        }
    }

    private static void stop(Path base) {
        KafkaClusterTestKit kit;
        synchronized (LOCK) {
            kit = cluster;
            cluster = null;
        }
        if (kit != null) {
            try {
                kit.close();
            } catch (Exception e) {
                System.err.println("[TestKafkaBroker] closing the broker failed: " + e);
            }
        }
        deleteRecursively(base);
    }

    private static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (var paths = Files.walk(dir)) {
            paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (java.io.IOException e) {
            System.err.println("[TestKafkaBroker] could not delete " + dir + ": " + e);
        }
    }

    /** Starts the broker and prints its address; stays up until interrupted. For trying things by hand. */
    public static void main(String[] args) throws InterruptedException {
        System.out.println(BOOTSTRAP_ENV + "=" + bootstrapServers());
        Thread.currentThread().join();
    }
}
