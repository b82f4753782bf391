package dev.eventbus.kafka;

import dev.eventbus.ConfigException;
import dev.eventbus.spi.TransportContext;
import dev.eventbus.spi.TransportProvider;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Configuration: defaults, pass-through, refusals and error messages. No broker needed. */
class KafkaConfigTest {

    private static Map<String, String> props(String... kv) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(KafkaConfig.BOOTSTRAP_SERVERS, "localhost:9092");
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void safeDefaultsForTheClients() {
        KafkaConfig c = KafkaConfig.from("shop", props());
        assertThat(c.producerProperties()).containsEntry("acks", "all").containsEntry("enable.idempotence", "true")
                .containsEntry("compression.type", "lz4").containsEntry("bootstrap.servers", "localhost:9092")
                .doesNotContainKey("transactional.id");
        assertThat(c.consumerProperties("billing")).containsEntry("group.id", "billing")
                .containsEntry("enable.auto.commit", "false").containsEntry("isolation.level", "read_committed")
                .containsEntry("auto.offset.reset", "earliest").containsEntry("allow.auto.create.topics", "false");
        assertThat(c.adminProperties()).containsEntry("bootstrap.servers", "localhost:9092");
        assertThat(c.topic("orders")).isEqualTo("orders");
        assertThat(c.deadLetterTopic("orders")).isEqualTo("orders.DLT");
        assertThat(c.retryTopic("orders", "billing")).isEqualTo("orders.billing.retry");
        assertThat(c.bindingMode()).isEqualTo(KafkaConfig.BindingMode.BINARY);
        assertThat(c.retryTopics()).isTrue();
        assertThat(c.createTopics()).isTrue();
        assertThat(c.partitions()).isEqualTo(3);
        assertThat(c.replicationFactor()).isEqualTo((short) -1);
    }

    @Test
    void clientKeysGoToTheClientsThatKnowThemAndPrefixedOnesToOneClientOnly() {
        KafkaConfig c = KafkaConfig.from("shop", props(
                "eventbus.kafka.linger.ms", "20",
                "eventbus.kafka.max.poll.records", "50",
                "eventbus.kafka.security.protocol", "SASL_SSL",
                "eventbus.kafka.sasl.mechanism", "PLAIN",
                "eventbus.kafka.my.plugin.setting", "x",
                "eventbus.kafka.consumer.max.poll.records", "1000",
                "eventbus.kafka.producer.client.id", "shop-writer",
                "eventbus.kafka.acks", "1"));
        assertThat(c.producerProperties()).containsEntry("linger.ms", "20").doesNotContainKey("max.poll.records")
                .containsEntry("security.protocol", "SASL_SSL").containsEntry("my.plugin.setting", "x")
                .containsEntry("client.id", "shop-writer").containsEntry("acks", "1");
        assertThat(c.consumerProperties("g")).containsEntry("max.poll.records", "1000").doesNotContainKey("linger.ms")
                .containsEntry("sasl.mechanism", "PLAIN").containsEntry("my.plugin.setting", "x");
        assertThat(c.adminProperties()).containsEntry("security.protocol", "SASL_SSL").doesNotContainKey("linger.ms");
    }

    @Test
    void ownKeysAreParsedAndTopicNamesMadeLegal() {
        KafkaConfig c = KafkaConfig.from("shop", props(KafkaConfig.TOPIC_PREFIX, "prod.",
                KafkaConfig.RETRY_TOPIC_NAME, "{topic}-retry-{group}", KafkaConfig.DEAD_LETTER_TOPIC_NAME, "dlq.{topic}",
                KafkaConfig.BINDING_MODE, "structured", KafkaConfig.RETRY_TOPICS, "false",
                KafkaConfig.REPLICATION_FACTOR, "3", KafkaConfig.PARTITIONS, "12", KafkaConfig.COMMIT_INTERVAL, "1s"));
        assertThat(c.topic("orders")).isEqualTo("prod.orders");
        assertThat(c.stream("prod.orders")).isEqualTo("orders");
        assertThat(c.retryTopic("prod.orders", "billing team/eu")).isEqualTo("prod.orders-retry-billing_team_eu");
        assertThat(c.deadLetterTopic("prod.orders")).isEqualTo("dlq.prod.orders");
        assertThat(c.isDeadLetterTopic("dlq.prod.orders")).isTrue();
        assertThat(c.isDeadLetterTopic("prod.orders")).isFalse();
        assertThat(c.bindingMode()).isEqualTo(KafkaConfig.BindingMode.STRUCTURED);
        assertThat(c.retryTopics()).isFalse();
        assertThat(c.replicationFactor()).isEqualTo((short) 3);
        assertThat(c.partitions()).isEqualTo(12);
        assertThat(c.commitInterval()).hasSeconds(1);
    }

    @Test
    void thePauseBoundIsTenPollsWorthUnlessSet() {
        assertThat(KafkaConfig.from("shop", props()).maxPendingPerPartition()).isEqualTo(5000);
        assertThat(KafkaConfig.from("shop", props("eventbus.kafka.consumer.max.poll.records", "2000"))
                .maxPendingPerPartition()).isEqualTo(20_000);
        assertThat(KafkaConfig.from("shop", props("eventbus.kafka.max.poll.records", "10"))
                .maxPendingPerPartition()).isEqualTo(1000);
        assertThat(KafkaConfig.from("shop", props("eventbus.kafka.max.poll.records", "2000",
                KafkaConfig.MAX_PENDING_PER_PARTITION, "300")).maxPendingPerPartition()).isEqualTo(300);
    }

    @Test
    void aMissingBootstrapServerFailsNamingTheKey() {
        assertThatThrownBy(() -> KafkaConfig.from("shop", Map.of()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(KafkaConfig.BOOTSTRAP_SERVERS)
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo(KafkaConfig.BOOTSTRAP_SERVERS));
    }

    @Test
    void badValuesFailNamingTheKeyAndWhatIsAllowed() {
        assertThatThrownBy(() -> KafkaConfig.from("shop", props(KafkaConfig.PARTITIONS, "none")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(KafkaConfig.PARTITIONS)
                .hasMessageContaining("an integer from 1 to 10000");
        assertThatThrownBy(() -> KafkaConfig.from("shop", props(KafkaConfig.BINDING_MODE, "json")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("binary").hasMessageContaining("structured");
        assertThatThrownBy(() -> KafkaConfig.from("shop", props(KafkaConfig.RETRY_TOPIC_NAME, "{topic}.retry")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("{group}");
        assertThatThrownBy(() -> KafkaConfig.from("shop", props(KafkaConfig.REPLICATION_FACTOR, "0")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(KafkaConfig.REPLICATION_FACTOR);
        assertThatThrownBy(() -> KafkaConfig.from("shop", props(KafkaConfig.COMMIT_INTERVAL, "soon")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(KafkaConfig.COMMIT_INTERVAL);
        assertThatThrownBy(() -> KafkaConfig.from("shop", props("eventbus.kafka.acks", "maybe")))
                .isInstanceOf(ConfigException.class)
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("eventbus.kafka.acks"))
                .hasMessageContaining("maybe");
        assertThatThrownBy(() -> KafkaConfig.from("shop", props("eventbus.kafka.consumer.max.poll.records", "lots")))
                .isInstanceOf(ConfigException.class)
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("eventbus.kafka.consumer.max.poll.records"));
    }

    @Test
    void aTypoInAnOwnKeyIsRefusedRatherThanIgnored() {
        assertThatThrownBy(() -> KafkaConfig.from("shop", props("eventbus.kafka.topic-prefx", "x")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("eventbus.kafka.topic-prefx")
                .hasMessageContaining(KafkaConfig.TOPIC_PREFIX);
    }

    @Test
    void keysTheTransportSetsItselfAreRefusedWithWhatToDoInstead() {
        for (String key : new String[] {"enable.auto.commit", "group.id", "key.serializer", "value.deserializer",
                "transactional.id", "producer.value.serializer"}) {
            assertThatThrownBy(() -> KafkaConfig.from("shop", props("eventbus.kafka." + key, "x")))
                    .as(key).isInstanceOf(ConfigException.class).hasMessageContaining("eventbus.kafka." + key)
                    .hasMessageContaining("set by the transport itself");
        }
        assertThatThrownBy(() -> KafkaConfig.from("shop", props("eventbus.kafka.transactional.id", "x")))
                .hasMessageContaining(KafkaConfig.TRANSACTIONAL_ID);
    }

    @Test
    void secretsNeverAppearInToStringOrErrors() {
        String jaas = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"hunter2\";";
        KafkaConfig c = KafkaConfig.from("shop", props("eventbus.kafka.sasl.jaas.config", jaas,
                "eventbus.kafka.ssl.truststore.password", "hunter2"));
        assertThat(c.toString()).doesNotContain("hunter2").contains("eventbus.kafka.sasl.jaas.config=****");
        assertThatThrownBy(() -> KafkaConfig.from("shop", props("eventbus.kafka.sasl.jaas.config", jaas,
                "eventbus.kafka.ssl.key.password", "hunter2", "eventbus.kafka.acks", "maybe")))
                .isInstanceOf(ConfigException.class).satisfies(e -> assertThat(e.getMessage()).doesNotContain("hunter2"));
    }

    @Test
    void anUnparseableBootstrapServerFailsWhenTheTransportIsCreated() {
        KafkaConfig c = KafkaConfig.from("shop", Map.of(KafkaConfig.BOOTSTRAP_SERVERS, "not a host"));
        assertThatThrownBy(() -> KafkaTransport.create(c)).isInstanceOf(ConfigException.class)
                .hasMessageContaining(KafkaConfig.BOOTSTRAP_SERVERS).hasMessageContaining("not a host");
    }

    @Test
    void theProviderIsFoundByNameAndMapsTheDashedKeys() {
        TransportProvider found = null;
        for (TransportProvider p : ServiceLoader.load(TransportProvider.class)) {
            if (p.name().equals("kafka")) {
                found = p;
            }
        }
        assertThat(found).isInstanceOf(KafkaTransportProvider.class);
        assertThat(found.configKeys()).contains(KafkaConfig.TOPIC_PREFIX, KafkaConfig.CREATE_TOPICS,
                KafkaConfig.TRANSACTIONAL_ID, KafkaConfig.BOOTSTRAP_SERVERS, KafkaConfig.CONNECT_TIMEOUT,
                KafkaConfig.PUBLISH_TIMEOUT);
        TransportProvider provider = found;
        assertThatThrownBy(() -> provider.create(new TransportContext("shop", Map.of())))
                .isInstanceOf(ConfigException.class).hasMessageContaining(KafkaConfig.BOOTSTRAP_SERVERS);
        assertThat(KafkaConfig.documentation()).allSatisfy((k, v) -> assertThat(v).isNotBlank());
    }

    @Test
    void theBuilderTakesShortAndFullKeysAndAKeyExtractor() {
        KafkaConfig c = KafkaConfig.builder().serviceName("shop").bootstrapServers("b:1").set("linger.ms", 7)
                .set(KafkaConfig.PARTITIONS, 6).keyExtractor(m -> "fixed").build();
        assertThat(c.producerProperties()).containsEntry("linger.ms", "7");
        assertThat(c.partitions()).isEqualTo(6);
        assertThat(c.recordKey(KafkaTransportTest.message("s", "k", "t", "{}"))).isEqualTo("fixed");
        assertThatThrownBy(() -> KafkaConfig.builder().bootstrapServers("b:1").set(KafkaConfig.KEY_HEADER, "x")
                .keyExtractor(m -> "y").build()).isInstanceOf(ConfigException.class);
    }

    @Test
    void theProviderAcceptsItsOwnKeysAndClientKeysThatExistAndNothingElse() {
        KafkaTransportProvider provider = new KafkaTransportProvider();
        assertThat(List.of(KafkaConfig.BOOTSTRAP_SERVERS, KafkaConfig.TOPIC_PREFIX, KafkaConfig.CONNECT_TIMEOUT,
                KafkaConfig.PUBLISH_TIMEOUT, KafkaConfig.MAX_PENDING_PER_PARTITION,
                "eventbus.kafka.linger.ms", "eventbus.kafka.max.poll.records", "eventbus.kafka.security.protocol",
                "eventbus.kafka.sasl.jaas.config", "eventbus.kafka.ssl.truststore.location",
                "eventbus.kafka.producer.linger.ms", "eventbus.kafka.consumer.max.poll.records",
                "eventbus.kafka.admin.retries", "eventbus.kafka.producer.client.id"))
                .allSatisfy(k -> assertThat(provider.acceptsKey(k)).as(k).isTrue());
        assertThat(List.of("eventbus.kafka.bogus", "eventbus.kafka.keyorder", "eventbus.kafka.topic-prefx",
                "eventbus.kafka.linger.mss", "eventbus.kafka.bootstrap.server",
                // a client key under the wrong client's prefix, and prefixes of nothing
                "eventbus.kafka.producer.max.poll.records", "eventbus.kafka.consumer.linger.ms",
                "eventbus.kafka.admin.acks", "eventbus.kafka.producer.", "eventbus.kafka.",
                // another transport's namespace, and no namespace
                "eventbus.rabbitmq.uri", "linger.ms"))
                .allSatisfy(k -> assertThat(provider.acceptsKey(k)).as(k).isFalse());
    }

    @Test
    void defaultsNoticeACrashedConsumerWithinSecondsAndBoundPublishing() {
        KafkaConfig c = KafkaConfig.from("shop", props());
        assertThat(c.consumerProperties("g")).containsEntry("session.timeout.ms", "10000")
                .containsEntry("heartbeat.interval.ms", "1000");
        assertThat(c.connectTimeout()).isEqualTo(java.time.Duration.ofSeconds(10));
        assertThat(c.producerProperties()).containsEntry("max.block.ms", "30000")
                .containsEntry("delivery.timeout.ms", "30000").containsEntry("request.timeout.ms", "29995");
        assertThat(c.adminProperties()).containsEntry("metadata.recovery.strategy", "none");

        KafkaConfig shortPublish = KafkaConfig.from("shop", props(KafkaConfig.PUBLISH_TIMEOUT, "2s",
                KafkaConfig.CONNECT_TIMEOUT, "0", "eventbus.kafka.consumer.session.timeout.ms", "20000"));
        assertThat(shortPublish.producerProperties()).containsEntry("max.block.ms", "2000")
                .containsEntry("delivery.timeout.ms", "2000").containsEntry("request.timeout.ms", "1995");
        assertThat(shortPublish.consumerProperties("g")).containsEntry("session.timeout.ms", "20000");
        assertThat(shortPublish.connectTimeout()).isZero();

        // The user's request timeout stays; the delivery timeout grows to fit it, as the producer requires.
        KafkaConfig userRequest = KafkaConfig.from("shop", props("eventbus.kafka.request.timeout.ms", "40000"));
        assertThat(userRequest.producerProperties()).containsEntry("request.timeout.ms", "40000")
                .containsEntry("delivery.timeout.ms", "40005");

        assertThatThrownBy(() -> KafkaConfig.from("shop", props(KafkaConfig.PUBLISH_TIMEOUT, "0s")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(KafkaConfig.PUBLISH_TIMEOUT);
        assertThatThrownBy(() -> KafkaConfig.from("shop", props(KafkaConfig.CONNECT_TIMEOUT, "soon")))
                .isInstanceOf(ConfigException.class).hasMessageContaining(KafkaConfig.CONNECT_TIMEOUT);
    }
}
