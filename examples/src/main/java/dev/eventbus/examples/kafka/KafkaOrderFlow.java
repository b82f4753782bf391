package dev.eventbus.examples.kafka;

import dev.eventbus.examples.OrderFlow;
import dev.eventbus.kafka.testing.TestKafkaBroker;

/**
 * The order flow over Apache Kafka, chosen by configuration alone: {@code eventbus.transport=kafka} and the
 * bootstrap servers. Nothing to install: it starts a real Kafka broker (KRaft) inside this JVM, the same one the
 * Kafka module's tests use, unless {@code EVENTBUS_TEST_KAFKA_BOOTSTRAP} names a running broker.
 *
 * <p>Run it with:
 * <pre>
 * mvn -q -ntp -pl examples -am -DskipTests -Dmaven.javadoc.skip -Dmaven.source.skip package exec:java \
 *     -Dexec.mainClass=dev.eventbus.examples.kafka.KafkaOrderFlow
 * </pre>
 */
public final class KafkaOrderFlow {

    private KafkaOrderFlow() {
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = TestKafkaBroker.bootstrapServers();
        System.out.println((TestKafkaBroker.isEmbedded() ? "Started a Kafka broker in this JVM at " : "Using the Kafka broker at ")
                + bootstrap);
        System.setProperty("eventbus.transport", "kafka");
        System.setProperty("eventbus.kafka.bootstrap.servers", bootstrap);
        // Every run gets its own topics, so a broker named by EVENTBUS_TEST_KAFKA_BOOTSTRAP never replays
        // an earlier run's events into this one.
        System.setProperty("eventbus.kafka.topic-prefix", "order-flow-" + Long.toString(System.currentTimeMillis(), 36) + ".");
        OrderFlow.main(args); // exits with status 1 itself when a step did not happen
        // The in-JVM broker runs non-daemon threads; exit so the program (and exec:java) ends; a shutdown hook
        // stops the broker and deletes its data.
        System.exit(0);
    }
}
