package dev.eventbus.kafka.internal;

import dev.eventbus.kafka.KafkaConfig;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Client ids say whose a client is (service, group, host, process) and never repeat. */
class ClientIdsTest {

    @Test
    void idsNameServiceGroupHostAndProcessAndNeverRepeat() {
        KafkaConfig config = KafkaConfig.builder().serviceName("orders").bootstrapServers("localhost:9092").build();
        String pid = Long.toString(ProcessHandle.current().pid());
        String first = ClientIds.consumer(config, null, "billing", false);
        String second = ClientIds.consumer(config, null, "billing", false);
        assertThat(first).matches("orders-billing-consumer-" + java.util.regex.Pattern.quote(ClientIds.process())
                + "-[0-9]+").matches("[a-zA-Z0-9._-]+");
        assertThat(second).isNotEqualTo(first);
        assertThat(ClientIds.process()).endsWith(pid);
        assertThat(ClientIds.consumer(config, null, "billing", true)).startsWith("orders-billing-retry-consumer-");
        assertThat(ClientIds.consumer(config, "shop reader", "billing", false)).startsWith("shop_reader-consumer-");
        assertThat(ClientIds.of("orders", null, "producer")).startsWith("orders-producer-").contains(pid);
        assertThat(ClientIds.of("orders", "quota-key", "producer")).isEqualTo("quota-key");
    }
}
