package dev.eventbus.kafka.internal;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** Header keys told from their bytes, as a consumer's records carry them (a key buffer inside a larger buffer). */
class HeaderKeysTest {

    private static final String[] WIRE_KEYS = {"ce_id", "ce_specversion", "ce_source", "ce_type", "ce_time",
            "ce_subject", "content-type", "ce_dataschema", "ce_correlationid", "ce_causationid", "ce_traceparent",
            "ce_eventbusversion"};

    /** A header as kafka-clients builds it for a consumed record: key and value are slices of the record buffer. */
    private static RecordHeader consumed(String key, String value, boolean direct) {
        byte[] k = key.getBytes(StandardCharsets.UTF_8);
        byte[] v = value.getBytes(StandardCharsets.UTF_8);
        ByteBuffer record = direct ? ByteBuffer.allocateDirect(k.length + v.length + 10)
                : ByteBuffer.allocate(k.length + v.length + 10);
        record.put(new byte[]{1, 2, 3}).put(k).put(new byte[]{4, 5}).put(v);
        ByteBuffer kb = record.duplicate().position(3).limit(3 + k.length).slice();
        ByteBuffer vb = record.duplicate().position(5 + k.length).limit(5 + k.length + v.length).slice();
        return new RecordHeader(kb, vb);
    }

    @Test
    void theFastPathIsOnWithTheKafkaClientsThisModuleUses() {
        // If this fails after a kafka-clients upgrade, RecordHeader's private key buffer moved: consuming still
        // works (keys are decoded as Strings again) but costs about a quarter more CPU per record.
        assertThat(HeaderKeys.available()).isTrue();
    }

    @Test
    void everyAttributeKeyMapsToTheNameMessageNameGives() {
        for (boolean direct : new boolean[]{false, true}) {
            for (String key : WIRE_KEYS) {
                RecordHeader h = consumed(key, "v", direct);
                String name = HeaderKeys.knownName(h);
                assertThat(name).as(key).isSameAs(CloudEventsBinding.messageName(key));
                assertThat(h.key()).as("the key buffer is left as it was").isEqualTo(key);
            }
        }
    }

    @Test
    void otherKeysAndDecodedKeysAreLeftToKeyDecoding() {
        assertThat(HeaderKeys.knownName(consumed("ce_tenant", "t", false))).isNull();
        assertThat(HeaderKeys.knownName(consumed("ce_idx", "t", false))).isNull();
        assertThat(HeaderKeys.knownName(consumed("ce_ix", "t", false))).isNull(); // same length as ce_id
        assertThat(HeaderKeys.knownName(consumed("eventbus-kafka-attempt", "2", false))).isNull();
        assertThat(HeaderKeys.knownName(consumed("Content-Type", "x", false))).isNull();
        assertThat(HeaderKeys.knownName(new RecordHeader("ce_id", new byte[]{1}))).isNull();
        RecordHeader decoded = consumed("ce_type", "t", false);
        decoded.key();
        assertThat(HeaderKeys.knownName(decoded)).isNull();
        Header other = new Header() {
            public String key() {
                return "ce_id";
            }

            public byte[] value() {
                return new byte[0];
            }
        };
        assertThat(HeaderKeys.knownName(other)).isNull();
    }

    @Test
    void aConsumedRecordReadsTheSameWithAndWithoutKeyBytes() {
        Map<String, String> wire = new LinkedHashMap<>();
        for (String k : WIRE_KEYS) {
            wire.put(k, "value of " + k);
        }
        wire.put("ce_type", "order.placed");
        wire.put("ce_tenant", "acme");
        wire.put("X-Custom", "free");
        wire.put("eventbus-kafka-attempt", "3");
        RecordHeaders fromBytes = new RecordHeaders();
        RecordHeaders fromStrings = new RecordHeaders();
        wire.forEach((k, v) -> {
            fromBytes.add(consumed(k, v, false));
            fromStrings.add(k, v.getBytes(StandardCharsets.UTF_8));
        });
        CloudEventsBinding.Filter filter = new CloudEventsBinding.Filter("eventbus-kafka-replay-group",
                "g".getBytes(StandardCharsets.UTF_8), new byte[][]{"order.placed".getBytes(StandardCharsets.UTF_8)},
                Set.of("order.placed"), t -> true);
        TransportMessage a = CloudEventsBinding.fromRecord("orders", record(fromBytes), filter);
        TransportMessage b = CloudEventsBinding.fromRecord("orders", record(fromStrings), filter);
        assertThat(a).isNotSameAs(CloudEventsBinding.SKIPPED);
        assertThat(Map.copyOf(a.headers())).isEqualTo(Map.copyOf(b.headers()));
        assertThat(a.headers()).containsEntry(MessageHeaders.TYPE, "order.placed").containsEntry("tenant", "acme")
                .containsEntry(MessageHeaders.DATACONTENTTYPE, "value of content-type")
                .doesNotContainKey("eventbus-kafka-attempt");

        RecordHeaders unwanted = new RecordHeaders();
        unwanted.add(consumed("ce_type", "order.shipped", false));
        assertThat(CloudEventsBinding.fromRecord("orders", record(unwanted), filter))
                .as("a known type nobody wants is skipped from its bytes too").isSameAs(CloudEventsBinding.SKIPPED);
    }

    private static ConsumerRecord<byte[], byte[]> record(RecordHeaders h) {
        return new ConsumerRecord<>("orders", 0, 1, 0L, TimestampType.CREATE_TIME, 0, 0,
                "k".getBytes(StandardCharsets.UTF_8), "{}".getBytes(StandardCharsets.UTF_8), h, Optional.empty());
    }
}
