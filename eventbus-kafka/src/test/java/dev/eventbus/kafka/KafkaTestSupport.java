package dev.eventbus.kafka;

import dev.eventbus.kafka.testing.TestKafkaBroker;
import dev.eventbus.spi.TransportSubscription;

import java.time.Duration;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

/** Shared settings for this module's tests: the one broker of this JVM, faster group protocol timings. */
final class KafkaTestSupport {

    private KafkaTestSupport() {
    }

    /** A config builder pointing at the test broker. */
    static KafkaConfig.Builder config(String service) {
        return KafkaConfig.builder()
                .serviceName(service)
                .bootstrapServers(TestKafkaBroker.bootstrapServers())
                // Members notice a rebalance on their next heartbeat; the default 3 s makes group tests slow.
                .set("consumer.heartbeat.interval.ms", "200")
                .set("partitions", "3");
    }

    static KafkaTransport transport(String service) {
        return KafkaTransport.create(config(service).build());
    }

    static String unique(String prefix) {
        return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    static void awaitAssigned(TransportSubscription s) {
        assertThat(((KafkaSubscription) s).awaitAssignment(Duration.ofSeconds(30)))
                .as("partitions assigned to %s within 30 s", s).isTrue();
    }
}
