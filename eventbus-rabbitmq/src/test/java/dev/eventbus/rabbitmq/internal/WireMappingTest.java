package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.AMQP;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

class WireMappingTest {

    @Test
    void everyHeaderSurvivesTheRoundTripAndTheKeyTravelsAsPartitionKey() {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, "0190-abc");
        h.put(MessageHeaders.SPECVERSION, "1.0");
        h.put(MessageHeaders.SOURCE, "/orders");
        h.put(MessageHeaders.TYPE, "order.placed");
        h.put(MessageHeaders.TIME, "2025-01-02T03:04:05.678901Z");
        h.put(MessageHeaders.SUBJECT, "order-1");
        h.put(MessageHeaders.DATACONTENTTYPE, "application/json");
        h.put(MessageHeaders.DATASCHEMA, "order.placed/v2");
        h.put(MessageHeaders.CORRELATION_ID, "c-1");
        h.put(MessageHeaders.CAUSATION_ID, "c-0");
        h.put(MessageHeaders.TRACEPARENT, "00-abc-def-01");
        h.put(MessageHeaders.SCHEMA_VERSION, "2");
        h.put(MessageHeaders.ATTEMPTS, "3");
        h.put("X-Tenant", "acme");
        TransportMessage m = new TransportMessage("orders", "order-1", h, "{}".getBytes(StandardCharsets.UTF_8), null, 7);
        AMQP.BasicProperties p = WireMapping.properties(m, null);
        assertThat(p.getMessageId()).isEqualTo("0190-abc");
        assertThat(p.getType()).isEqualTo("order.placed");
        assertThat(p.getContentType()).isEqualTo("application/json");
        assertThat(p.getTimestamp().toInstant().getEpochSecond()).isEqualTo(1735787045L);
        assertThat(p.getDeliveryMode()).isEqualTo(2);
        assertThat(p.getPriority()).isEqualTo(7);
        assertThat(p.getHeaders()).containsKeys("cloudEvents_id", "cloudEvents_type", "cloudEvents_specversion",
                "cloudEvents_source", "cloudEvents_time", "cloudEvents_subject", "cloudEvents_dataschema",
                "cloudEvents_correlationid", "cloudEvents_causationid", "cloudEvents_traceparent",
                "cloudEvents_eventbusversion", "cloudEvents_partitionkey", "eventbus-attempts", "X-Tenant");
        assertThat(p.getHeaders().keySet()).noneMatch(k -> k.startsWith("cloudEvents:"));

        TransportMessage back = WireMapping.message("orders", p, m.body());
        assertThat(back.headers()).isEqualTo(h);
        assertThat(back.key()).isEqualTo("order-1");
        assertThat(back.priority()).isEqualTo(7);
        assertThat(back.stream()).isEqualTo("orders");
    }

    @Test
    void brokerBookkeepingIsNotShownToHandlersAndCountsTowardTheAttempt() {
        Map<String, Object> headers = new HashMap<>();
        headers.put("x-death", List.of(Map.of("reason", "expired")));
        headers.put("x-delivery-count", 2L);
        headers.put(WireMapping.ATTEMPT_HEADER, "3");
        headers.put("x-first-death-queue", "q");
        AMQP.BasicProperties p = new AMQP.BasicProperties.Builder().type("t").headers(headers).build();
        assertThat(WireMapping.message("s", p, new byte[0]).headers()).containsOnlyKeys(MessageHeaders.TYPE);
        assertThat(WireMapping.attempt(p, true)).isEqualTo(5);
        assertThat(WireMapping.attempt(new AMQP.BasicProperties(), false)).isEqualTo(1);
        assertThat(WireMapping.attempt(new AMQP.BasicProperties(), true)).isEqualTo(2);
    }

    @Test
    void theTimestampPropertyIsTheTimeInSeconds() {
        for (String t : List.of("2025-01-02T03:04:05Z", "2025-01-02T03:04:05.999Z", "2024-02-29T23:59:59.123456789Z",
                "2025-01-02T05:04:05+02:00", "1969-12-31T23:59:59Z")) {
            assertThat(WireMapping.parseTime(t).getTime() / 1000).as(t)
                    .isEqualTo(java.time.OffsetDateTime.parse(t).toInstant().getEpochSecond());
        }
        assertThat(WireMapping.parseTime("yesterday")).isNull();
    }

    @Test
    void retryDelaysRoundUpToTwoSignificantDigits() {
        assertThat(Names.bucketMillis(Duration.ofMillis(200))).isEqualTo(200);
        assertThat(Names.bucketMillis(Duration.ofMillis(1234))).isEqualTo(1300);
        assertThat(Names.bucketMillis(Duration.ofMillis(37_000))).isEqualTo(37_000);
        assertThat(Names.bucketMillis(Duration.ofMillis(123_001))).isEqualTo(130_000);
        assertThat(Names.bucketMillis(Duration.ofNanos(1))).isEqualTo(1);
        assertThat(Names.bucketMillis(Duration.ofNanos(200_000_001))).isEqualTo(210);
    }
}
