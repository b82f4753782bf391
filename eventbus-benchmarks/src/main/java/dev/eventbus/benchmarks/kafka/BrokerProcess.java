package dev.eventbus.benchmarks.kafka;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

/**
 * A Kafka broker in a child JVM ({@code TestKafkaBroker} from eventbus-kafka's test-jar), so the broker's CPU is not
 * counted in the benchmark's own threads. Used by the Kafka harnesses; not thread-safe, one call per broker.
 */
public final class BrokerProcess {
    private BrokerProcess() {
    }

    /** Starts the child JVM; the caller destroys the returned process. */
    public static Process start() throws Exception {
        String java = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        ProcessBuilder pb = new ProcessBuilder(java, "-Xmx1g", "-cp", System.getProperty("java.class.path"),
                "dev.eventbus.kafka.testing.TestKafkaBroker");
        pb.redirectErrorStream(true);
        return pb.start();
    }

    /**
     * Blocks until the child prints its bootstrap address, then drains its output on a daemon thread.
     *
     * @throws IllegalStateException if the child ends first
     */
    public static String bootstrap(Process broker) throws Exception {
        BufferedReader out = new BufferedReader(new InputStreamReader(broker.getInputStream(), StandardCharsets.UTF_8));
        String line;
        while ((line = out.readLine()) != null) {
            if (line.startsWith("EVENTBUS_TEST_KAFKA_BOOTSTRAP=")) {
                String bootstrap = line.substring(line.indexOf('=') + 1).trim();
                Thread drain = new Thread(() -> {
                    try {
                        while (out.readLine() != null) {
                            // keep the child's pipe from filling up
                        }
                    } catch (Exception ignored) {
                        // child ended
                    }
                }, "broker-output");
                drain.setDaemon(true);
                drain.start();
                return bootstrap;
            }
        }
        throw new IllegalStateException("the broker process ended without printing its address");
    }

    /** A harness run against a broker's bootstrap address; true when its targets are met. */
    @FunctionalInterface
    public interface Run {
        boolean run(String bootstrap) throws Exception;
    }

    /**
     * Runs {@code run} against the broker {@code EVENTBUS_TEST_KAFKA_BOOTSTRAP} names or, when unset, one started in a
     * child JVM for the run and stopped after it (even when the run throws). Blocks for the whole run.
     */
    public static boolean withBroker(Run run) throws Exception {
        String bootstrap = System.getenv("EVENTBUS_TEST_KAFKA_BOOTSTRAP");
        if (bootstrap != null && !bootstrap.isBlank()) {
            return run.run(bootstrap);
        }
        Process broker = start();
        try {
            return run.run(bootstrap(broker));
        } finally {
            broker.destroy();
            broker.waitFor(20, TimeUnit.SECONDS);
        }
    }
}
