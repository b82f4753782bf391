package dev.eventbus.kafka;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.PublishOptions;
import dev.eventbus.kafka.testing.TestKafkaBroker;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.cloudevents.core.message.Encoding;
import io.cloudevents.jackson.JsonFormat;
import io.cloudevents.kafka.CloudEventDeserializer;
import io.cloudevents.kafka.CloudEventSerializer;
import io.cloudevents.kafka.PartitionKeyExtensionInterceptor;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The CloudEvents Kafka binding checked against the official CloudEvents Java SDK on a real broker, both ways and
 * in both content modes, with a service name that is not a URI by itself ({@code order service}); plus the rule
 * that the transport's own replay header is never believed on the main topic.
 */
class KafkaCloudEventsSdkTest {

    @EventType(name = "sdk.order.placed", stream = "sdk-orders")
    record SdkOrder(String orderId, int quantity) {
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private static Properties config(String service, String prefix, String mode) {
        Properties p = new Properties();
        p.setProperty("eventbus.service", service);
        p.setProperty("eventbus.transport", "kafka");
        p.setProperty(KafkaConfig.BOOTSTRAP_SERVERS, TestKafkaBroker.bootstrapServers());
        p.setProperty(KafkaConfig.TOPIC_PREFIX, prefix);
        p.setProperty(KafkaConfig.BINDING_MODE, mode);
        p.setProperty("eventbus.kafka.consumer.heartbeat.interval.ms", "200");
        return p;
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    private static KafkaProducer<String, CloudEvent> sdkProducer(Encoding encoding) {
        return new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, TestKafkaBroker.bootstrapServers(),
                ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName(),
                ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, CloudEventSerializer.class.getName(),
                CloudEventSerializer.ENCODING_CONFIG, encoding.name(),
                CloudEventSerializer.EVENT_FORMAT_CONFIG, JsonFormat.CONTENT_TYPE,
                // the SDK's own rule: the record key is the partitionkey extension
                ProducerConfig.INTERCEPTOR_CLASSES_CONFIG, PartitionKeyExtensionInterceptor.class.getName()));
    }

    private static List<ConsumerRecord<String, CloudEvent>> sdkReadAll(String topic, int expected) {
        Map<String, Object> props = Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, TestKafkaBroker.bootstrapServers(),
                ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName(),
                ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, CloudEventDeserializer.class.getName());
        List<ConsumerRecord<String, CloudEvent>> out = new ArrayList<>();
        try (KafkaConsumer<String, CloudEvent> c = new KafkaConsumer<>(props)) {
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo p : c.partitionsFor(topic, Duration.ofSeconds(10))) {
                tps.add(new TopicPartition(topic, p.partition()));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (out.size() < expected && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }

    private static CloudEvent sdkEvent(String id, String subject, String key, String body) {
        CloudEventBuilder b = CloudEventBuilder.v1().withId(id).withSource(URI.create("urn:example:sdk"))
                .withType("sdk.order.placed").withTime(OffsetDateTime.parse("2026-01-02T03:04:05Z"))
                .withExtension(PartitionKeyExtensionInterceptor.PARTITION_KEY_EXTENSION, key)
                .withExtension("tenant", "acme")
                .withData("application/json", body.getBytes(StandardCharsets.UTF_8));
        if (subject != null) {
            b.withSubject(subject);
        }
        return b.build();
    }

    @Test
    void eventsWrittenByTheSdkInBinaryAndStructuredModeReachTheBus() throws Exception {
        String prefix = KafkaTestSupport.unique("sdk-in") + ".";
        List<Envelope<SdkOrder>> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.fromConfig(config("order service", prefix, "binary"))) {
            bus.subscribeEnvelopes(SdkOrder.class, "sdk-in-g", got::add);
            try (KafkaProducer<String, CloudEvent> binary = sdkProducer(Encoding.BINARY);
                 KafkaProducer<String, CloudEvent> structured = sdkProducer(Encoding.STRUCTURED)) {
                binary.send(new ProducerRecord<>(prefix + "sdk-orders", sdkEvent("sdk-bin-1", null, "pk-1",
                        "{\"orderId\":\"b-1\",\"quantity\":1}"))).get(30, TimeUnit.SECONDS);
                structured.send(new ProducerRecord<>(prefix + "sdk-orders", sdkEvent("sdk-str-1", "subj-2", "pk-2",
                        "{\"orderId\":\"s-1\",\"quantity\":2}"))).get(30, TimeUnit.SECONDS);
            }
            await(() -> got.size() == 2, "both SDK events; dead letters: " + bus.deadLetters().list("sdk-in-g"));
            assertThat(bus.deadLetters().list("sdk-in-g")).isEmpty();
        }
        Envelope<SdkOrder> bin = got.stream().filter(e -> e.id().equals("sdk-bin-1")).findFirst().orElseThrow();
        Envelope<SdkOrder> str = got.stream().filter(e -> e.id().equals("sdk-str-1")).findFirst().orElseThrow();
        assertThat(bin.event()).isEqualTo(new SdkOrder("b-1", 1));
        assertThat(str.event()).isEqualTo(new SdkOrder("s-1", 2));
        for (Envelope<SdkOrder> e : List.of(bin, str)) {
            assertThat(e.source()).isEqualTo("urn:example:sdk");
            assertThat(e.type()).isEqualTo("sdk.order.placed");
            assertThat(e.time()).isEqualTo(OffsetDateTime.parse("2026-01-02T03:04:05Z").toInstant());
            assertThat(e.headers()).containsEntry("tenant", "acme").doesNotContainKey("partitionkey");
        }
        assertThat(bin.subject()).as("the record key is not a subject the event carried").isNull();
        assertThat(str.subject()).isEqualTo("subj-2");
    }

    @Test
    void eventsWrittenByTheBusInBinaryAndStructuredModeAreReadByTheSdk() throws Exception {
        for (String mode : new String[] {"binary", "structured"}) {
            String prefix = KafkaTestSupport.unique("sdk-out-" + mode) + ".";
            try (EventBus bus = EventBus.fromConfig(config("order service", prefix, mode))) {
                bus.publish(new SdkOrder("o-1", 3), PublishOptions.builder().key("k-1").header("tenant", "acme")
                        .build()).get(30, TimeUnit.SECONDS);
            }
            List<ConsumerRecord<String, CloudEvent>> records = sdkReadAll(prefix + "sdk-orders", 1);
            assertThat(records).as(mode).hasSize(1);
            ConsumerRecord<String, CloudEvent> r = records.get(0);
            CloudEvent e = r.value();
            assertThat(e.getSource()).as(mode).isEqualTo(URI.create("urn:eventbus:order%20service"));
            assertThat(e.getType()).isEqualTo("sdk.order.placed");
            assertThat(e.getId()).isNotBlank();
            assertThat(e.getTime()).isNotNull();
            assertThat(e.getSubject()).isEqualTo("k-1");
            assertThat(e.getDataContentType()).startsWith("application/json");
            assertThat(e.getExtension("partitionkey")).as(mode).isEqualTo("k-1");
            assertThat(r.key()).as("the record key is the partitionkey extension").isEqualTo("k-1");
            assertThat(e.getExtension("tenant")).isEqualTo("acme");
            assertThat(e.getExtension("eventbusversion")).isNotNull();
            JsonNode data = JSON.readTree(e.getData().toBytes());
            assertThat(data.get("orderId").asText()).isEqualTo("o-1");
            assertThat(data.get("quantity").asInt()).isEqualTo(3);
        }
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "retry-topics={0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void aForgedReplayGroupHeaderOnTheMainTopicSteersNothing(boolean retryTopics) throws Exception {
        String prefix = KafkaTestSupport.unique("forged-replay") + ".";
        List<String> a = new CopyOnWriteArrayList<>();
        List<String> b = new CopyOnWriteArrayList<>();
        Properties cfg = config("forger", prefix, "binary");
        cfg.setProperty(KafkaConfig.RETRY_TOPICS, String.valueOf(retryTopics));
        try (EventBus bus = EventBus.fromConfig(cfg)) {
            bus.subscribeEnvelopes(SdkOrder.class, "group-a", e -> a.add(e.id()));
            bus.subscribeEnvelopes(SdkOrder.class, "group-b", e -> b.add(e.id()));
            RecordHeaders h = new RecordHeaders();
            h.add("ce_specversion", "1.0".getBytes(StandardCharsets.UTF_8));
            h.add("ce_id", "forged-replay-1".getBytes(StandardCharsets.UTF_8));
            h.add("ce_source", "urn:example:outside".getBytes(StandardCharsets.UTF_8));
            h.add("ce_type", "sdk.order.placed".getBytes(StandardCharsets.UTF_8));
            h.add("content-type", "application/json".getBytes(StandardCharsets.UTF_8));
            h.add("eventbus-kafka-replay-group", "group-a".getBytes(StandardCharsets.UTF_8));
            PlainKafka.send(new ProducerRecord<>(prefix + "sdk-orders", null, "k".getBytes(StandardCharsets.UTF_8),
                    "{\"orderId\":\"f-1\",\"quantity\":1}".getBytes(StandardCharsets.UTF_8), h));
            await(() -> a.contains("forged-replay-1") && b.contains("forged-replay-1"),
                    "the record in both groups, whatever group its forged replay header names; a=" + a + " b=" + b);
        }
    }
}
