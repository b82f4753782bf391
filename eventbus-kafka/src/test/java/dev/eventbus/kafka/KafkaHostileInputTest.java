package dev.eventbus.kafka;

import dev.eventbus.EventBus;
import dev.eventbus.spi.Transport;
import dev.eventbus.testkit.HostileInputContract;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import static dev.eventbus.kafka.PlainKafka.bytes;
import static org.assertj.core.api.Assertions.assertThat;

/** The Kafka transport (retry topics on) passes the hostile-input contract against the in-JVM broker. */
class KafkaHostileInputTest extends HostileInputContract {

    @Override
    protected Transport newTransport() {
        return KafkaTransport.create(KafkaTestSupport.config("hostile")
                .set(KafkaConfig.TOPIC_PREFIX, KafkaTestSupport.unique("hostile") + ".").build());
    }

    @Test
    void aMalformedStructuredRecordIsDeadLetteredWithAWarning() throws Exception {
        String prefix = KafkaTestSupport.unique("malformed") + ".";
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        // slf4j-simple writes to whatever System.err is at the time of the call
        System.setErr(new PrintStream(new TeeStream(err, captured), true, StandardCharsets.UTF_8));
        try (EventBus bus = EventBus.builder().service("hostile").transport(KafkaTransport.create(
                KafkaTestSupport.config("hostile").set(KafkaConfig.TOPIC_PREFIX, prefix).build())).build()) {
            Sink sink = new Sink();
            bus.register(sink);
            RecordHeaders h = new RecordHeaders();
            h.add("content-type", bytes("application/cloudevents+json"));
            PlainKafka.send(new ProducerRecord<>(prefix + STREAM, null, bytes("m-1"), bytes("{not json"), h));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (bus.deadLetters().list(GROUP).isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertThat(bus.deadLetters().list(GROUP)).hasSize(1);
            assertThat(bus.deadLetters().list(GROUP).get(0).reason()).contains("malformed record");
        } finally {
            System.setErr(err);
        }
        assertThat(captured.toString(StandardCharsets.UTF_8)).contains("WARN")
                .contains("dead-lettered malformed record");
    }

    @Test
    void aRecordTooLargeForTheDeadLetterTopicIsDeadLetteredWithoutItsBodyAndConsumptionMovesOn() throws Exception {
        String prefix = KafkaTestSupport.unique("large") + ".";
        String topic = prefix + STREAM;
        // The topic accepts 3 MB records; the bus's producer (max.request.size 1 MB) cannot write one to the DLT.
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(
                java.util.Map.of("bootstrap.servers", dev.eventbus.kafka.testing.TestKafkaBroker.bootstrapServers()))) {
            admin.createTopics(java.util.List.of(new org.apache.kafka.clients.admin.NewTopic(topic, 1, (short) 1)
                    .configs(java.util.Map.of("max.message.bytes", "3000000")))).all().get(30, TimeUnit.SECONDS);
        }
        try (EventBus bus = EventBus.builder().service("hostile").transport(KafkaTransport.create(
                KafkaTestSupport.config("hostile").set(KafkaConfig.TOPIC_PREFIX, prefix).build())).build();
             org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]> big =
                     new org.apache.kafka.clients.producer.KafkaProducer<>(java.util.Map.of(
                             "bootstrap.servers", dev.eventbus.kafka.testing.TestKafkaBroker.bootstrapServers(),
                             "max.request.size", "3000000",
                             "key.serializer", org.apache.kafka.common.serialization.ByteArraySerializer.class.getName(),
                             "value.serializer", org.apache.kafka.common.serialization.ByteArraySerializer.class.getName()))) {
            Sink sink = new Sink();
            bus.register(sink);
            byte[] huge = new byte[2_000_000];
            java.util.Arrays.fill(huge, (byte) 'x'); // not JSON: decoding fails, the record is dead-lettered
            big.send(new ProducerRecord<>(topic, null, bytes("big-1"), huge, ceHeaders("big-1"))).get(30, TimeUnit.SECONDS);
            big.send(new ProducerRecord<>(topic, null, bytes("good-9"),
                    bytes("{\"orderId\":\"good-9\",\"amount\":1}"), ceHeaders("good-9"))).get(30, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while ((bus.deadLetters().list(GROUP).isEmpty() || !sink.has("good-9")) && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertThat(sink.has("good-9")).as("the good record after the huge one is delivered").isTrue();
            assertThat(bus.deadLetters().list(GROUP)).hasSize(1);
            dev.eventbus.DeadLetter d = bus.deadLetters().list(GROUP).get(0);
            assertThat(d.message().id()).isEqualTo("big-1");
            assertThat(d.reason()).contains("cannot decode").contains("the body (2000000 bytes) was dropped");
            assertThat(d.message().header("eventbus-dlq-body-dropped")).isEqualTo("2000000");
            assertThat(d.message().body()).isEmpty();
        }
    }

    private static RecordHeaders ceHeaders(String id) {
        RecordHeaders h = new RecordHeaders();
        h.add("ce_specversion", bytes("1.0"));
        h.add("ce_id", bytes(id));
        h.add("ce_source", bytes("/outside"));
        h.add("ce_type", bytes("hostile.order.placed"));
        h.add("content-type", bytes("application/json"));
        return h;
    }

    /** Writes to two streams. */
    static final class TeeStream extends java.io.OutputStream {
        private final java.io.OutputStream a;
        private final java.io.OutputStream b;

        TeeStream(java.io.OutputStream a, java.io.OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public synchronized void write(int c) throws java.io.IOException {
            a.write(c);
            b.write(c);
        }

        @Override
        public synchronized void write(byte[] buf, int off, int len) throws java.io.IOException {
            a.write(buf, off, len);
            b.write(buf, off, len);
        }
    }
}
