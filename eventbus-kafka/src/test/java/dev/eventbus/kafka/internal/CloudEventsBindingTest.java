package dev.eventbus.kafka.internal;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The CloudEvents Kafka binding in both content modes, without a broker. */
class CloudEventsBindingTest {

    private static TransportMessage message(String contentType, byte[] body) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, "id-1");
        h.put(MessageHeaders.SPECVERSION, "1.0");
        h.put(MessageHeaders.SOURCE, "/shop");
        h.put(MessageHeaders.TYPE, "order.placed");
        h.put(MessageHeaders.TIME, "2026-01-01T00:00:00Z");
        h.put(MessageHeaders.SUBJECT, "o-1");
        h.put(MessageHeaders.TRACEPARENT, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        if (contentType != null) {
            h.put(MessageHeaders.DATACONTENTTYPE, contentType);
        }
        h.put(MessageHeaders.ATTEMPTS, "2");
        h.put("X-Custom", "free header");
        return TransportMessage.of("orders", "o-1", h, body);
    }

    private static ConsumerRecord<byte[], byte[]> received(ProducerRecord<byte[], byte[]> p) {
        RecordHeaders h = new RecordHeaders();
        for (Header x : p.headers()) {
            h.add(x);
        }
        return new ConsumerRecord<>(p.topic(), 0, 42, 0L, TimestampType.CREATE_TIME, 0, 0, p.key(), p.value(), h,
                Optional.empty());
    }

    private static Map<String, String> wire(ProducerRecord<byte[], byte[]> r) {
        Map<String, String> m = new LinkedHashMap<>();
        r.headers().forEach(h -> m.put(h.key(), new String(h.value(), StandardCharsets.UTF_8)));
        return m;
    }

    @Test
    void everyKnownAttributeNameSurvivesTheRoundTripToItsWireKey() {
        for (String name : new String[]{"id", "specversion", "source", "type", "time", "subject", "datacontenttype",
                "dataschema", "correlationid", "causationid", "traceparent", "eventbusversion", "tenant", "X-Custom",
                "eventbus-attempts"}) {
            assertThat(CloudEventsBinding.messageName(CloudEventsBinding.wireName(name))).as(name).isEqualTo(name);
        }
        assertThat(CloudEventsBinding.messageName("ce_typo")).isEqualTo("typo");
    }

    @Test
    void repeatingAttributesShareOneHeaderPerValueAndNeverMixValues() {
        Header placed = CloudEventsBinding.binaryHeader(MessageHeaders.TYPE, "order.placed");
        Header shipped = CloudEventsBinding.binaryHeader(MessageHeaders.TYPE, "order.shipped");
        assertThat(CloudEventsBinding.binaryHeader(MessageHeaders.TYPE, new String("order.placed"))).isSameAs(placed);
        assertThat(shipped).isNotSameAs(placed);
        assertThat(new String(shipped.value(), StandardCharsets.UTF_8)).isEqualTo("order.shipped");
        assertThat(shipped.key()).isEqualTo("ce_type");
        // The same value under another attribute is another header; per-record attributes are never shared.
        assertThat(CloudEventsBinding.binaryHeader(MessageHeaders.SOURCE, "order.placed").key()).isEqualTo("ce_source");
        assertThat(CloudEventsBinding.binaryHeader(MessageHeaders.ID, "id-1"))
                .isNotSameAs(CloudEventsBinding.binaryHeader(MessageHeaders.ID, "id-1"));
    }

    @Test
    void binaryModeMapsAttributesToCePrefixedHeadersAndBack() {
        TransportMessage m = message("application/json", "{\"a\":1}".getBytes(StandardCharsets.UTF_8));
        ProducerRecord<byte[], byte[]> r = new CloudEventsBinding(false).toRecord("orders", "o-1".getBytes(), m);
        assertThat(wire(r)).containsEntry("ce_id", "id-1").containsEntry("ce_specversion", "1.0")
                .containsEntry("ce_source", "/shop").containsEntry("ce_type", "order.placed")
                .containsEntry("ce_time", "2026-01-01T00:00:00Z").containsEntry("ce_subject", "o-1")
                .containsEntry("ce_traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
                .containsEntry("content-type", "application/json")
                .containsEntry("eventbus-attempts", "2").containsEntry("X-Custom", "free header")
                .doesNotContainKey("datacontenttype");
        assertThat(r.value()).isEqualTo(m.body());
        TransportMessage back = CloudEventsBinding.fromRecord("orders", received(r));
        assertThat(back.headers()).isEqualTo(m.headers());
        assertThat(back.key()).isEqualTo("o-1");
        assertThat(back.body()).isEqualTo(m.body());
    }

    @Test
    void internalHeadersAreHiddenFromHandlers() {
        TransportMessage m = message("application/json", new byte[] {'{', '}'});
        ProducerRecord<byte[], byte[]> r = new CloudEventsBinding(false).toRecord("orders", null, m);
        r.headers().add("eventbus-kafka-due", "123".getBytes());
        assertThat(CloudEventsBinding.fromRecord("orders", received(r)).headers()).doesNotContainKey("eventbus-kafka-due");
    }

    @Test
    void structuredModeEmbedsJsonDataAndKeepsOtherHeadersOutside() throws Exception {
        TransportMessage m = message("application/json", "{\"qty\":2,\"sku\":\"lamp\"}".getBytes(StandardCharsets.UTF_8));
        ProducerRecord<byte[], byte[]> r = new CloudEventsBinding(true).toRecord("orders", null, m);
        assertThat(wire(r)).containsEntry("content-type", "application/cloudevents+json; charset=UTF-8")
                .containsEntry("eventbus-attempts", "2").containsEntry("X-Custom", "free header")
                .doesNotContainKey("ce_id");
        var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.value());
        assertThat(json.get("id").asText()).isEqualTo("id-1");
        assertThat(json.get("traceparent").asText()).startsWith("00-");
        assertThat(json.get("data").get("sku").asText()).isEqualTo("lamp");
        TransportMessage back = CloudEventsBinding.fromRecord("orders", received(r));
        assertThat(back.headers()).containsAllEntriesOf(m.headers()).hasSameSizeAs(m.headers());
        assertThat(new String(back.body(), StandardCharsets.UTF_8)).isEqualTo("{\"qty\":2,\"sku\":\"lamp\"}");
    }

    @Test
    void structuredModeCarriesTextAndBinaryDataUnchanged() {
        byte[] bytes = {0, 1, 2, (byte) 0xff};
        TransportMessage bin = message("application/octet-stream", bytes);
        ProducerRecord<byte[], byte[]> r = new CloudEventsBinding(true).toRecord("s", null, bin);
        assertThat(new String(r.value(), StandardCharsets.UTF_8)).contains("\"data_base64\":\"AAEC/w==\"");
        assertThat(CloudEventsBinding.fromRecord("s", received(r)).body()).isEqualTo(bytes);

        TransportMessage text = message("text/plain", "hello \"world\"".getBytes(StandardCharsets.UTF_8));
        ProducerRecord<byte[], byte[]> t = new CloudEventsBinding(true).toRecord("s", null, text);
        assertThat(CloudEventsBinding.fromRecord("s", received(t)).body()).isEqualTo(text.body());

        TransportMessage notJson = message("application/json", "{broken".getBytes(StandardCharsets.UTF_8));
        ProducerRecord<byte[], byte[]> n = new CloudEventsBinding(true).toRecord("s", null, notJson);
        assertThat(CloudEventsBinding.fromRecord("s", received(n)).body())
                .as("bytes that are not the JSON they claim survive as base64").isEqualTo(notJson.body());
    }

    @Test
    void aStructuredRecordThatIsNotJsonIsMalformed() {
        RecordHeaders h = new RecordHeaders();
        h.add("content-type", "application/cloudevents+json".getBytes());
        ConsumerRecord<byte[], byte[]> r = new ConsumerRecord<>("s", 0, 1, 0L, TimestampType.CREATE_TIME, 0, 0, null,
                "nope".getBytes(), h, Optional.empty());
        assertThatThrownBy(() -> CloudEventsBinding.fromRecord("s", r))
                .isInstanceOf(CloudEventsBinding.MalformedRecordException.class).hasMessageContaining("not JSON");
    }

    @Test
    void theFilteredReadSkipsOtherGroupsReplaysAndUnwantedTypesInBothModes() {
        byte[] g = "billing".getBytes(StandardCharsets.UTF_8);
        CloudEventsBinding.Filter placedOnly = new CloudEventsBinding.Filter("eventbus-kafka-replay-group", g,
                new byte[][] {"order.placed".getBytes(StandardCharsets.UTF_8)}, java.util.Set.of("order.placed"), t -> true);
        CloudEventsBinding.Filter shippedOnly = new CloudEventsBinding.Filter("eventbus-kafka-replay-group", g,
                new byte[][] {"order.shipped".getBytes(StandardCharsets.UTF_8)}, java.util.Set.of("order.shipped"), t -> true);
        CloudEventsBinding.Filter any = new CloudEventsBinding.Filter("eventbus-kafka-replay-group", g, null, null, t -> true);
        TransportMessage m = message("application/json", "{}".getBytes(StandardCharsets.UTF_8));
        for (boolean structured : new boolean[] {false, true}) {
            ProducerRecord<byte[], byte[]> r = new CloudEventsBinding(structured).toRecord("orders", null, m);
            TransportMessage back = CloudEventsBinding.fromRecord("orders", received(r), placedOnly);
            assertThat(back.headers()).as("structured " + structured)
                    .isEqualTo(CloudEventsBinding.fromRecord("orders", received(r)).headers());
            assertThat(CloudEventsBinding.fromRecord("orders", received(r), shippedOnly))
                    .isSameAs(CloudEventsBinding.SKIPPED);
            assertThat(CloudEventsBinding.fromRecord("orders", received(r), any)).isNotSameAs(CloudEventsBinding.SKIPPED);

            r.headers().add("eventbus-kafka-replay-group", "shipping".getBytes(StandardCharsets.UTF_8));
            assertThat(CloudEventsBinding.fromRecord("orders", received(r), any)).isSameAs(CloudEventsBinding.SKIPPED);
            r.headers().add("eventbus-kafka-replay-group", g); // the last one counts, as with lastHeader
            assertThat(CloudEventsBinding.fromRecord("orders", received(r), placedOnly).headers())
                    .doesNotContainKey("eventbus-kafka-replay-group").containsEntry("type", "order.placed");
        }
    }

    @Test
    void namesMapOneToOne() {
        assertThat(CloudEventsBinding.wireName("correlationid")).isEqualTo("ce_correlationid");
        assertThat(CloudEventsBinding.wireName("datacontenttype")).isEqualTo("content-type");
        assertThat(CloudEventsBinding.wireName("eventbus-dlq-reason")).isEqualTo("eventbus-dlq-reason");
        assertThat(CloudEventsBinding.messageName("ce_correlationid")).isEqualTo("correlationid");
        assertThat(CloudEventsBinding.messageName("Content-Type")).isEqualTo("datacontenttype");
        assertThat(CloudEventsBinding.messageName("traceparent")).isEqualTo("traceparent");
    }

    @Test
    void theKeyTravelsAsThePartitionKeyExtensionAndTheRecordKeyInBothModes() throws Exception {
        TransportMessage m = message("application/json", "{}".getBytes(StandardCharsets.UTF_8));
        ProducerRecord<byte[], byte[]> binary = new CloudEventsBinding(false).toRecord("orders", "k-1".getBytes(), m);
        assertThat(wire(binary)).containsEntry("ce_partitionkey", "k-1");
        assertThat(new String(binary.key(), StandardCharsets.UTF_8)).isEqualTo("k-1");
        ProducerRecord<byte[], byte[]> structured = new CloudEventsBinding(true).toRecord("orders", "k-1".getBytes(), m);
        assertThat(new com.fasterxml.jackson.databind.ObjectMapper().readTree(structured.value()).get("partitionkey")
                .asText()).isEqualTo("k-1");
        CloudEventsBinding.Filter any = new CloudEventsBinding.Filter(null, new byte[0], null, null, t -> true);
        for (ProducerRecord<byte[], byte[]> r : java.util.List.of(binary, structured)) {
            for (TransportMessage back : java.util.List.of(CloudEventsBinding.fromRecord("orders", received(r)),
                    CloudEventsBinding.fromRecord("orders", received(r), any))) {
                assertThat(back.key()).isEqualTo("k-1");
                assertThat(back.headers()).doesNotContainKey(MessageHeaders.PARTITION_KEY);
            }
            // a record without a key (another producer's) still has one: its partitionkey
            ProducerRecord<byte[], byte[]> keyless = new ProducerRecord<>("orders", null, (byte[]) null, r.value(), (Iterable<Header>) r.headers());
            assertThat(CloudEventsBinding.fromRecord("orders", received(keyless)).key()).isEqualTo("k-1");
            assertThat(CloudEventsBinding.fromRecord("orders", received(keyless), any).key()).isEqualTo("k-1");
        }
        // a partitionkey header set by hand does not contradict the key
        Map<String, String> h = new LinkedHashMap<>(m.headers());
        h.put(MessageHeaders.PARTITION_KEY, "other");
        ProducerRecord<byte[], byte[]> r = new CloudEventsBinding(false).toRecord("orders", "k-2".getBytes(),
                TransportMessage.of("orders", "k-2", h, m.body()));
        assertThat(r.headers().headers("ce_partitionkey")).hasSize(1);
        assertThat(wire(r)).containsEntry("ce_partitionkey", "k-2");
    }

    @Test
    void withoutAReplayHeaderToBelieveAReplayGroupHeaderSkipsNothing() {
        byte[] g = "billing".getBytes(StandardCharsets.UTF_8);
        CloudEventsBinding.Filter mainTopic = new CloudEventsBinding.Filter(null, g, null, null, t -> true);
        ProducerRecord<byte[], byte[]> r = new CloudEventsBinding(false).toRecord("orders", null,
                message("application/json", "{}".getBytes(StandardCharsets.UTF_8)));
        r.headers().add("eventbus-kafka-replay-group", "shipping".getBytes(StandardCharsets.UTF_8));
        TransportMessage back = CloudEventsBinding.fromRecord("orders", received(r), mainTopic);
        assertThat(back).isNotSameAs(CloudEventsBinding.SKIPPED);
        assertThat(back.headers()).doesNotContainKey("eventbus-kafka-replay-group");
    }
}
