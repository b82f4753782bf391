package dev.eventbus.opentelemetry;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import dev.eventbus.EventBus;
import dev.eventbus.Event;
import dev.eventbus.EventType;
import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.kafka.testing.TestKafkaBroker;
import dev.eventbus.rabbitmq.RabbitMqConfig;
import dev.eventbus.rabbitmq.RabbitMqTransport;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * One trace across three buses (three services): publish on A -> Kafka -> handler on B publishes -> RabbitMQ ->
 * handler on C. Real Kafka (in this JVM) and the local RabbitMQ server.
 */
class CrossTransportTracingTest {

    static final String RABBIT_URI = System.getenv().getOrDefault("EVENTBUS_TEST_RABBITMQ_URI",
            "amqp://guest:guest@localhost:5672/");

    @EventType(name = "xtrace.order-placed", stream = "xtrace-orders")
    record OrderPlaced(String orderId) implements Event {
        @Override
        public String eventKey() {
            return orderId; // the Kafka record key
        }
    }

    @EventType(name = "xtrace.order-billed", stream = "xtrace-billing")
    record OrderBilled(String orderId) {
    }

    @Test
    void oneTraceFromAOverKafkaToBOverRabbitMqToC() throws Exception {
        requireRabbitMq();
        String id = UUID.randomUUID().toString().substring(0, 8);
        String kafkaPrefix = "xtrace-" + id + ".";
        String rabbitPrefix = "xtrace-" + id + ".";
        InMemorySpanExporter exporter = InMemorySpanExporter.create();
        Map<String, SpanContext> seen = new ConcurrentHashMap<>();
        try (OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(exporter))
                        .build())
                .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance())).build()) {
            EventBusTracing tracing = EventBusTracing.create(otel);
            RabbitMqTransport rabbitB = rabbit("b", rabbitPrefix);
            RabbitMqTransport rabbitC = rabbit("c", rabbitPrefix);
            try (EventBus a = tracing.build(EventBus.builder().config(kafka("a", kafkaPrefix)));
                 EventBus b = tracing.build(EventBus.builder().config(kafka("b", kafkaPrefix))
                         .transport("rabbitmq", rabbitB).route(OrderBilled.class, "rabbitmq"));
                 // One queue per group: per-key order on RabbitMQ would need a plugin a stock server lacks.
                 EventBus c = tracing.build(EventBus.builder().service("c").transport(rabbitC)
                         .orderedByKey(false))) {
                c.subscribe(OrderBilled.class, "shipping", e -> seen.put("c", Span.current().getSpanContext()));
                b.subscribe(OrderPlaced.class, "billing", e -> {
                    seen.put("b", Span.current().getSpanContext());
                    b.publish(new OrderBilled(e.orderId())).join();
                });
                a.publish(new OrderPlaced("o-1")).get(30, TimeUnit.SECONDS);
                await(() -> seen.containsKey("c") && exporter.getFinishedSpanItems().size() >= 4);
                Thread.sleep(200); // nothing more may come
            } finally {
                deleteTopology(rabbitPrefix, rabbitB, rabbitC);
            }

            List<SpanData> spans = exporter.getFinishedSpanItems();
            assertThat(spans).hasSize(4);
            ConsumerRecord<byte[], byte[]> kafkaWhere = theOnlyRecord(kafkaPrefix + "xtrace-orders");
            SpanData sendA = one(spans, "send xtrace-orders", SpanKind.PRODUCER);
            SpanData processB = one(spans, "process xtrace-orders", SpanKind.CONSUMER);
            SpanData sendB = one(spans, "send xtrace-billing", SpanKind.PRODUCER);
            SpanData processC = one(spans, "process xtrace-billing", SpanKind.CONSUMER);
            assertThat(sendA.getParentSpanContext().isValid()).isFalse();
            assertThat(processB.getParentSpanId()).isEqualTo(sendA.getSpanId());
            assertThat(sendB.getParentSpanId()).isEqualTo(processB.getSpanId());
            assertThat(processC.getParentSpanId()).isEqualTo(sendB.getSpanId());
            assertThat(spans).extracting(SpanData::getTraceId).containsOnly(sendA.getTraceId());
            assertThat(seen.get("b").getSpanId()).isEqualTo(processB.getSpanId());
            assertThat(seen.get("c").getSpanId()).isEqualTo(processC.getSpanId());

            assertThat(sendA.getAttributes().get(EventBusTracing.MESSAGING_SYSTEM)).isEqualTo("kafka");
            assertThat(processB.getAttributes().get(EventBusTracing.MESSAGING_SYSTEM)).isEqualTo("kafka");
            assertThat(processB.getAttributes().get(EventBusTracing.CONSUMER_GROUP)).isEqualTo("billing");
            assertThat(sendB.getAttributes().get(EventBusTracing.MESSAGING_SYSTEM)).isEqualTo("rabbitmq");
            assertThat(sendB.getAttributes().get(EventBusTracing.RABBITMQ_ROUTING_KEY))
                    .isEqualTo("xtrace.order-billed");
            assertThat(processC.getAttributes().get(EventBusTracing.MESSAGING_SYSTEM)).isEqualTo("rabbitmq");
            assertThat(processC.getAttributes().get(EventBusTracing.CONSUMER_GROUP)).isEqualTo("shipping");
            assertThat(processC.getAttributes().get(EventBusTracing.OUTCOME)).isEqualTo("ack");

            // Where each delivery was found, from the transports themselves (Delivery.attributes()).
            assertThat(processB.getAttributes().get(EventBusTracing.KAFKA_KEY)).isEqualTo("o-1");
            assertThat(processB.getAttributes().get(EventBusTracing.PARTITION_ID))
                    .isEqualTo(Integer.toString(kafkaWhere.partition()));
            assertThat(processB.getAttributes().get(EventBusTracing.KAFKA_OFFSET))
                    .isEqualTo(kafkaWhere.offset());
            assertThat(sendA.getAttributes().get(EventBusTracing.KAFKA_KEY)).isEqualTo("o-1");
            assertThat(processC.getAttributes().get(EventBusTracing.RABBITMQ_ROUTING_KEY))
                    .isEqualTo("xtrace.order-billed");
            assertThat(processC.getAttributes().get(EventBusTracing.PARTITION_ID)).isNull();
            assertThat(processB.getAttributes().get(EventBusTracing.RABBITMQ_ROUTING_KEY)).isNull();

            // Links: each process span links to its creation context (the send), and only to it.
            assertThat(processB.getLinks()).extracting(l -> l.getSpanContext().getSpanId())
                    .containsExactly(sendA.getSpanId());
            assertThat(processC.getLinks()).extracting(l -> l.getSpanContext().getSpanId())
                    .containsExactly(sendB.getSpanId());
            assertThat(sendA.getLinks()).isEmpty();
            assertThat(sendB.getLinks()).isEmpty();
        }
    }

    @EventType(name = "xtrace.payment", stream = "xtrace-payments")
    record Payment(String orderId) implements Event {
        @Override
        public String eventKey() {
            return orderId;
        }
    }

    /**
     * A delayed retry on Kafka (through the group's retry topic) stays in the trace: one process span per attempt,
     * both children of the original send and linked to it; the first read from the stream's topic at the record's
     * partition and offset, the second from the retry topic.
     */
    @Test
    void aDelayedRetryOverTheRetryTopicKeepsTheTraceAndTellsWhereEachAttemptWasRead() throws Exception {
        String prefix = "xtrace-r-" + UUID.randomUUID().toString().substring(0, 8) + ".";
        InMemorySpanExporter exporter = InMemorySpanExporter.create();
        java.util.concurrent.atomic.AtomicInteger calls = new java.util.concurrent.atomic.AtomicInteger();
        try (OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(exporter))
                        .build())
                .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance())).build()) {
            EventBusTracing tracing = EventBusTracing.create(otel);
            try (EventBus a = tracing.build(EventBus.builder().config(kafka("ra", prefix)));
                 EventBus b = tracing.build(EventBus.builder().config(kafka("rb", prefix))
                         .retryPolicy(dev.eventbus.RetryPolicy.builder().maxAttempts(3).immediateRetries(0)
                                 .initialDelay(Duration.ofMillis(50)).maxDelay(Duration.ofMillis(50)).jitter(0)
                                 .build())
                         .subscriberExceptionHandler((e, c) -> { }))) {
                b.subscribe(Payment.class, "payments", p -> {
                    if (calls.incrementAndGet() == 1) {
                        throw new IllegalStateException("card service down");
                    }
                });
                a.publish(new Payment("o-9")).get(30, TimeUnit.SECONDS);
                await(() -> exporter.getFinishedSpanItems().size() >= 3);
                Thread.sleep(300); // nothing more may come
            }
            List<SpanData> spans = exporter.getFinishedSpanItems();
            assertThat(spans).as("spans: %s", spans).hasSize(3);
            SpanData send = one(spans, "send xtrace-payments", SpanKind.PRODUCER);
            List<SpanData> attempts = spans.stream().filter(x -> x.getKind() == SpanKind.CONSUMER)
                    .sorted(java.util.Comparator.comparing(x -> x.getAttributes().get(EventBusTracing.ATTEMPT)))
                    .toList();
            assertThat(attempts).extracting(x -> x.getAttributes().get(EventBusTracing.ATTEMPT))
                    .containsExactly(1L, 2L);
            assertThat(attempts).extracting(x -> x.getAttributes().get(EventBusTracing.OUTCOME))
                    .containsExactly("retry", "ack");
            assertThat(attempts.get(0).getAttributes().get(EventBusTracing.ERROR_TYPE))
                    .isEqualTo(IllegalStateException.class.getName());
            assertThat(attempts.get(0).getEvents()).extracting(ev -> ev.getName()).contains("retry");
            for (SpanData attempt : attempts) {
                assertThat(attempt.getTraceId()).isEqualTo(send.getTraceId());
                assertThat(attempt.getParentSpanId()).isEqualTo(send.getSpanId());
                assertThat(attempt.getLinks()).extracting(l -> l.getSpanContext().getSpanId())
                        .containsExactly(send.getSpanId());
                assertThat(attempt.getAttributes().get(EventBusTracing.KAFKA_KEY)).isEqualTo("o-9");
                assertThat(attempt.getAttributes().get(EventBusTracing.PARTITION_ID)).isNotNull();
                assertThat(attempt.getAttributes().get(EventBusTracing.KAFKA_OFFSET)).isNotNull();
            }
            ConsumerRecord<byte[], byte[]> original = theOnlyRecord(prefix + "xtrace-payments");
            assertThat(attempts.get(0).getAttributes().get(EventBusTracing.PARTITION_ID))
                    .isEqualTo(Integer.toString(original.partition()));
            assertThat(attempts.get(0).getAttributes().get(EventBusTracing.KAFKA_OFFSET))
                    .isEqualTo(original.offset());
            ConsumerRecord<byte[], byte[]> parked = theOnlyRecord(prefix + "xtrace-payments.payments.retry");
            assertThat(attempts.get(1).getAttributes().get(EventBusTracing.PARTITION_ID))
                    .as("the second attempt was read from the retry topic")
                    .isEqualTo(Integer.toString(parked.partition()));
            assertThat(attempts.get(1).getAttributes().get(EventBusTracing.KAFKA_OFFSET)).isEqualTo(parked.offset());
        }
    }

    /** The record A wrote, read back with a plain consumer: where it really is. */
    private static ConsumerRecord<byte[], byte[]> theOnlyRecord(String topic) {
        Map<String, Object> props = Map.of("bootstrap.servers", TestKafkaBroker.bootstrapServers(),
                "key.deserializer", ByteArrayDeserializer.class.getName(),
                "value.deserializer", ByteArrayDeserializer.class.getName());
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<TopicPartition> partitions = consumer.partitionsFor(topic).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (records.isEmpty() && System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(records::add);
            }
            consumer.poll(Duration.ofMillis(200)).forEach(records::add);
            assertThat(records).as("records on %s", topic).hasSize(1);
            return records.get(0);
        }
    }

    private static Properties kafka(String service, String prefix) {
        Properties p = new Properties();
        p.setProperty("eventbus.service", service);
        p.setProperty("eventbus.transport", "kafka");
        p.setProperty(KafkaConfig.BOOTSTRAP_SERVERS, TestKafkaBroker.bootstrapServers());
        p.setProperty(KafkaConfig.TOPIC_PREFIX, prefix);
        p.setProperty("eventbus.kafka.consumer.heartbeat.interval.ms", "200");
        return p;
    }

    private static RabbitMqTransport rabbit(String service, String prefix) {
        return RabbitMqTransport.create(RabbitMqConfig.builder().uri(RABBIT_URI).serviceName(service).prefix(prefix)
                .build());
    }

    private static ConnectionFactory factory() throws Exception {
        RabbitMqConfig c = RabbitMqConfig.builder().uri(RABBIT_URI).build(); // its reading of the URI ("/" vhost)
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(c.host());
        f.setPort(c.port());
        f.setUsername(c.username());
        f.setPassword(c.password());
        f.setVirtualHost(c.virtualHost());
        f.setAutomaticRecoveryEnabled(false);
        return f;
    }

    /** Fails (never skips) with how to start the server when it is unreachable. */
    private static void requireRabbitMq() {
        try (Connection c = factory().newConnection("eventbus-otel-test-probe")) {
            c.createChannel().close();
        } catch (Exception e) {
            throw new AssertionError("RabbitMQ is not reachable at " + RABBIT_URI + " (" + e + "). Start the local "
                    + "server with `rabbitmq-server -detached`, or point EVENTBUS_TEST_RABBITMQ_URI at one.", e);
        }
    }

    /** Deletes the queues and exchanges this test's transports declared (all named with its prefix). */
    private static void deleteTopology(String prefix, RabbitMqTransport... transports) {
        for (RabbitMqTransport t : transports) {
            t.close(Duration.ofSeconds(5));
        }
        try (Connection c = factory().newConnection("eventbus-otel-test-cleanup")) {
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
                    } catch (Exception e) {
                        // already gone
                    }
                }
            }
        } catch (Exception e) {
            System.err.println("could not clean up RabbitMQ topology " + prefix + "*: " + e);
        }
    }

    private static List<String> rabbitmqctl(String kind) {
        List<String> names = new ArrayList<>();
        try {
            Process p = new ProcessBuilder("rabbitmqctl", "-q", kind, "name").redirectErrorStream(true).start();
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                    names.add(line.trim());
                }
            }
            p.waitFor(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            System.err.println("rabbitmqctl " + kind + " failed: " + e);
        }
        return names;
    }

    private static SpanData one(List<SpanData> spans, String name, SpanKind kind) {
        List<SpanData> found = spans.stream().filter(s -> s.getName().equals(name) && s.getKind() == kind).toList();
        assertThat(found).as("%s spans named '%s' in %s", kind, name, spans).hasSize(1);
        return found.get(0);
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the trace did not reach C within 60 s");
            }
            Thread.sleep(20);
        }
    }
}
