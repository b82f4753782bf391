package dev.eventbus.kafka;

import dev.eventbus.DeadLetter;
import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.PublishOptions;
import dev.eventbus.RetryPolicy;
import dev.eventbus.Subscribe;
import dev.eventbus.kafka.testing.TestKafkaBroker;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static dev.eventbus.kafka.PlainKafka.bytes;
import static dev.eventbus.kafka.PlainKafka.headers;
import static dev.eventbus.kafka.PlainKafka.text;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The bus over Kafka, selected by configuration, against the real broker. Each test gets its own topic prefix. */
class KafkaEventBusTest {

    @EventType(name = "kafka.order.placed", version = 1, stream = "kafka-orders")
    record OrderPlaced(String orderId, int quantity) {
    }

    @EventType(name = "kafka.order.shipped", version = 1, stream = "kafka-orders")
    record OrderShipped(String orderId) {
    }

    private static Properties config(String service, String prefix) {
        Properties p = new Properties();
        p.setProperty("eventbus.service", service);
        p.setProperty("eventbus.transport", "kafka");
        p.setProperty(KafkaConfig.BOOTSTRAP_SERVERS, TestKafkaBroker.bootstrapServers());
        p.setProperty(KafkaConfig.TOPIC_PREFIX, prefix);
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

    @Test
    void selectedByConfigurationAloneItCarriesTypedEventsWithTheirEnvelope() throws Exception {
        String prefix = KafkaTestSupport.unique("bus") + ".";
        List<Envelope<OrderPlaced>> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.fromConfig(config("shop", prefix))) {
            bus.register(new Object() {
                @Subscribe(group = "billing")
                void on(Envelope<OrderPlaced> env) {
                    got.add(env);
                }
            });
            bus.publish(new OrderPlaced("o-1", 2), PublishOptions.builder().key("o-1").header("tenant", "acme").build())
                    .get(30, TimeUnit.SECONDS);
            await(() -> got.size() == 1, "the event");
        }
        Envelope<OrderPlaced> e = got.get(0);
        assertThat(e.event()).isEqualTo(new OrderPlaced("o-1", 2));
        assertThat(e.type()).isEqualTo("kafka.order.placed");
        assertThat(e.subject()).isEqualTo("o-1");
        assertThat(e.headers()).containsEntry("tenant", "acme");
        assertThat(e.attempt()).isEqualTo(1);

        ConsumerRecord<byte[], byte[]> r = PlainKafka.awaitRecords(prefix + "kafka-orders", 1).get(0);
        assertThat(text(r.key())).as("record key = the event's key").isEqualTo("o-1");
        assertThat(headers(r)).containsEntry("ce_type", "kafka.order.placed").containsEntry("ce_id", e.id())
                .containsEntry("ce_subject", "o-1").containsEntry("ce_tenant", "acme")
                .containsEntry("content-type", "application/json");
        assertThat(text(r.value())).contains("\"orderId\":\"o-1\"");
    }

    @Test
    void aRecordFromAPlainProducerWithCloudEventsHeadersReachesASubscribeMethod() throws Exception {
        String prefix = KafkaTestSupport.unique("plain") + ".";
        List<OrderPlaced> got = new CopyOnWriteArrayList<>();
        List<Envelope<OrderPlaced>> envelopes = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.fromConfig(config("shop", prefix))) {
            bus.register(new Object() {
                @Subscribe(group = "warehouse")
                void on(Envelope<OrderPlaced> env) {
                    envelopes.add(env);
                    got.add(env.event());
                }
            });
            RecordHeaders h = new RecordHeaders();
            h.add("ce_specversion", bytes("1.0"));
            h.add("ce_id", bytes("legacy-1"));
            h.add("ce_source", bytes("/legacy-system"));
            h.add("ce_type", bytes("kafka.order.placed"));
            h.add("ce_subject", bytes("ext-1"));
            h.add("content-type", bytes("application/json"));
            PlainKafka.send(new ProducerRecord<>(prefix + "kafka-orders", null, bytes("ext-1"),
                    bytes("{\"orderId\":\"ext-1\",\"quantity\":5}"), h));
            await(() -> got.size() == 1, "the record written by a plain KafkaProducer");
        }
        assertThat(got).containsExactly(new OrderPlaced("ext-1", 5));
        assertThat(envelopes.get(0).id()).isEqualTo("legacy-1");
        assertThat(envelopes.get(0).source()).hasToString("/legacy-system");
    }

    @Test
    void malformedUnknownAndHeaderlessRecordsGoToTheDeadLetterTopicWithTheReasonAndTheNextIsHandled() throws Exception {
        String prefix = KafkaTestSupport.unique("bad") + ".";
        String topic = prefix + "kafka-orders";
        List<OrderPlaced> handled = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.fromConfig(config("intake", prefix))) {
            bus.subscribe(OrderPlaced.class, "intake", handled::add);
            bus.publish(new OrderPlaced("o-0", 1)).get(30, TimeUnit.SECONDS);
            await(() -> handled.size() == 1, "the first valid event");
            PlainKafka.send(new ProducerRecord<>(topic, null, bytes("k"), bytes("{not json"), ce("bad-json", "kafka.order.placed")));
            PlainKafka.send(new ProducerRecord<>(topic, null, bytes("k"), bytes("{\"orderId\":\"x\"}"),
                    new RecordHeaders().add("content-type", bytes("application/json"))));
            bus.publish(new OrderPlaced("o-1", 1)).get(30, TimeUnit.SECONDS);
            await(() -> handled.size() == 2, "the valid event after the bad ones");
            assertThat(handled).containsExactly(new OrderPlaced("o-0", 1), new OrderPlaced("o-1", 1));
            await(() -> bus.deadLetters().list("intake").size() == 2, "two dead letters");
            List<DeadLetter> dead = bus.deadLetters().list("intake");
            assertThat(dead).allSatisfy(d -> assertThat(d.reason()).isNotBlank());
            assertThat(dead).allSatisfy(d -> assertThat(d.originalStream()).isEqualTo("kafka-orders"));
            assertThat(dead.get(0).message().id()).isEqualTo("bad-json");
            assertThat(dead.get(1).reason()).containsIgnoringCase("type");
        }
        List<ConsumerRecord<byte[], byte[]>> dlt = PlainKafka.readAll(topic + ".DLT", "read_committed");
        assertThat(dlt).hasSize(2);
        assertThat(text(dlt.get(0).value())).as("the original bytes").isEqualTo("{not json");
    }

    private static RecordHeaders ce(String id, String type) {
        RecordHeaders h = new RecordHeaders();
        h.add("ce_specversion", bytes("1.0"));
        h.add("ce_id", bytes(id));
        h.add("ce_source", bytes("/test"));
        h.add("ce_type", bytes(type));
        h.add("content-type", bytes("application/json"));
        return h;
    }

    @Test
    void retriesThroughTheRetryTopicDeadLettersThenReplaysThroughTheApi() throws Exception {
        String prefix = KafkaTestSupport.unique("retry") + ".";
        AtomicInteger calls = new AtomicInteger();
        AtomicInteger fixedAfter = new AtomicInteger(Integer.MAX_VALUE);
        List<Integer> attempts = new CopyOnWriteArrayList<>();
        RetryPolicy retry = RetryPolicy.builder().maxAttempts(3).immediateRetries(0).initialDelay(Duration.ofMillis(200))
                .multiplier(2).jitter(0).build();
        try (EventBus bus = EventBus.builder().config(config("mail", prefix)).retryPolicy(retry).build()) {
            bus.register(new Object() {
                @Subscribe(group = "mailer")
                void on(Envelope<OrderShipped> env) {
                    attempts.add(env.attempt());
                    if (calls.incrementAndGet() < fixedAfter.get()) {
                        throw new IllegalStateException("smtp down");
                    }
                }
            });
            bus.publish(new OrderShipped("o-9"), PublishOptions.builder().key("o-9").build()).get(30, TimeUnit.SECONDS);
            await(() -> bus.deadLetters().list("mailer").size() == 1, "the dead letter");
            assertThat(calls.get()).isEqualTo(3);
            assertThat(attempts).containsExactly(1, 2, 3);
            DeadLetter d = bus.deadLetters().list("mailer").get(0);
            assertThat(d.exceptionClass()).isEqualTo("java.lang.IllegalStateException");
            assertThat(d.attempts()).isEqualTo(3);
            assertThat(d.type()).isEqualTo("kafka.order.shipped");
            assertThat(d.message().key()).isEqualTo("o-9");
            assertThat(d.message().header(MessageHeadersNames.ORIGINAL_TOPIC)).isEqualTo(prefix + "kafka-orders");

            fixedAfter.set(0);
            assertThat(bus.deadLetters().replayAll("mailer")).isEqualTo(1);
            await(() -> calls.get() == 4, "the replayed event");
            assertThat(bus.deadLetters().list("mailer")).isEmpty();
        }
        // Two delayed retries, then the replay: it too comes through the group's retry topic, due at once with
        // attempt 1, so the main topic never has to believe a header naming the group.
        assertThat(PlainKafka.readAll(prefix + "kafka-orders.mailer.retry", "read_committed"))
                .as("the delayed retries and the replay went through the group's retry topic")
                .extracting(r -> new String(r.headers().lastHeader("eventbus-kafka-attempt").value(),
                        java.nio.charset.StandardCharsets.UTF_8)).containsExactly("2", "3", "1");
        assertThat(PlainKafka.readAll(prefix + "kafka-orders", "read_committed")).as("nothing re-sent to the main topic")
                .hasSize(1);
    }

    /** Header names the Kafka transport adds to dead letters. */
    private static final class MessageHeadersNames {
        static final String ORIGINAL_TOPIC = "eventbus-dlq-original-topic";
    }

    @Test
    void everyGroupGetsEveryEventAndInstancesOfAGroupShareThem() throws Exception {
        String prefix = KafkaTestSupport.unique("groups") + ".";
        List<String> audit = new CopyOnWriteArrayList<>();
        List<String> billingA = new CopyOnWriteArrayList<>();
        List<String> billingB = new CopyOnWriteArrayList<>();
        try (EventBus a = EventBus.fromConfig(config("shop", prefix));
             EventBus b = EventBus.fromConfig(config("shop", prefix))) {
            a.subscribe(OrderPlaced.class, "audit", e -> audit.add(e.orderId()));
            a.subscribe(OrderPlaced.class, "billing", e -> billingA.add(e.orderId()));
            b.subscribe(OrderPlaced.class, "billing", e -> billingB.add(e.orderId()));
            List<Object> events = new ArrayList<>();
            for (int i = 0; i < 60; i++) {
                events.add(new OrderPlaced("o-" + i, 1));
            }
            for (Object e : events) {
                a.publish(e, PublishOptions.builder().key(((OrderPlaced) e).orderId()).build()).get(30, TimeUnit.SECONDS);
            }
            await(() -> audit.size() == 60 && billingA.size() + billingB.size() >= 60, "every event in both groups");
            Thread.sleep(300);
        }
        assertThat(audit).doesNotHaveDuplicates().hasSize(60);
        List<String> billing = new ArrayList<>(billingA);
        billing.addAll(billingB);
        assertThat(billing).as("billing instances share the events, none twice").doesNotHaveDuplicates().hasSize(60);
    }

    @Test
    void publishAllIsOneTransactionAndADelayedPublishIsRefused() throws Exception {
        String prefix = KafkaTestSupport.unique("batch") + ".";
        Properties p = config("batcher", prefix);
        p.setProperty(KafkaConfig.TRANSACTIONAL_ID, KafkaTestSupport.unique("batcher"));
        List<String> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.fromConfig(p)) {
            bus.subscribe(OrderPlaced.class, "billing", e -> got.add(e.orderId()));
            List<Object> events = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                events.add(new OrderPlaced("o-" + i, i));
            }
            bus.publishAll(events).get(30, TimeUnit.SECONDS);
            await(() -> got.size() == 10, "the batch");
            assertThatThrownBy(() -> bus.publish(new OrderPlaced("later", 1),
                    PublishOptions.builder().delay(Duration.ofSeconds(5)).build()).get(30, TimeUnit.SECONDS))
                    .hasMessageContaining("delay");
        }
        assertThat(got).containsExactlyInAnyOrderElementsOf(
                java.util.stream.IntStream.range(0, 10).mapToObj(i -> "o-" + i).toList());
        assertThat(PlainKafka.readAll(prefix + "kafka-orders", "read_committed")).hasSize(10);
    }
}
