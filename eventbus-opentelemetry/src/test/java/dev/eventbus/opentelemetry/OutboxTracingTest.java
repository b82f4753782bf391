package dev.eventbus.opentelemetry;

import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.jdbc.JdbcTransport;
import dev.eventbus.jdbc.Outbox;
import dev.eventbus.jdbc.OutboxRelay;
import dev.eventbus.jdbc.SchemaMode;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The trace survives the outbox: a publish into the outbox inside the caller's transaction (under the caller's
 * span), the relay later moves the row to the JDBC transport, a handler on B publishes over the JDBC transport to C.
 */
class OutboxTracingTest {

    @EventType(name = "otrace.order-placed", stream = "otrace-orders")
    record OrderPlaced(String orderId) {
    }

    @EventType(name = "otrace.order-billed", stream = "otrace-billing")
    record OrderBilled(String orderId) {
    }

    private static JdbcTransport transport(JdbcDataSource ds) {
        return JdbcTransport.builder(ds).tablePrefix("ot_").schemaMode(SchemaMode.ALWAYS).partitions(2)
                .pollInterval(Duration.ofMillis(20)).lease(Duration.ofSeconds(5), Duration.ofMillis(100))
                .commitInterval(Duration.ofMillis(10)).build();
    }

    @Test
    void appSpanThenOutboxSendThenRelayedProcessThenNestedSendAndProcessOverJdbc() throws Exception {
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL("jdbc:h2:mem:otrace-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        InMemorySpanExporter exporter = InMemorySpanExporter.create();
        Map<String, SpanContext> seen = new ConcurrentHashMap<>();
        try (OpenTelemetrySdk otel = OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder().addSpanProcessor(SimpleSpanProcessor.create(exporter))
                        .build())
                .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance())).build()) {
            EventBusTracing tracing = EventBusTracing.create(otel);
            JdbcTransport relayTarget = transport(ds);
            try (EventBus a = tracing.build(EventBus.builder().service("a").transport(transport(ds)));
                 EventBus b = tracing.build(EventBus.builder().service("b").transport(transport(ds)));
                 EventBus c = tracing.build(EventBus.builder().service("c").transport(transport(ds)));
                 OutboxRelay relay = OutboxRelay.builder(ds, relayTarget).tablePrefix("ot_")
                         .schemaMode(SchemaMode.ALWAYS).pollInterval(Duration.ofMillis(20)).build()) {
                c.subscribe(OrderBilled.class, "shipping", e -> seen.put("c", Span.current().getSpanContext()));
                b.subscribe(OrderPlaced.class, "billing", e -> {
                    seen.put("b", Span.current().getSpanContext());
                    b.publish(new OrderBilled(e.orderId())).join();
                });
                Outbox outbox = Outbox.builder(ds).bus(a).tablePrefix("ot_").schemaMode(SchemaMode.ALWAYS).build();
                Span request = otel.getTracer("test").spanBuilder("POST /orders").setSpanKind(SpanKind.SERVER)
                        .startSpan();
                try (Scope ignored = request.makeCurrent(); Connection conn = ds.getConnection()) {
                    conn.setAutoCommit(false);
                    outbox.publish(new OrderPlaced("o-1"), conn);
                    conn.commit();
                } finally {
                    request.end();
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while ((!seen.containsKey("c") || exporter.getFinishedSpanItems().size() < 5)
                        && System.nanoTime() < deadline) {
                    Thread.sleep(20);
                }
                Thread.sleep(200);
            } finally {
                relayTarget.close(Duration.ofSeconds(5));
            }
            List<SpanData> spans = exporter.getFinishedSpanItems();
            assertThat(spans).as("spans: %s", spans).hasSize(5);
            SpanData root = one(spans, "POST /orders", SpanKind.SERVER);
            SpanData stored = one(spans, "send otrace-orders", SpanKind.PRODUCER);
            SpanData processB = one(spans, "process otrace-orders", SpanKind.CONSUMER);
            SpanData sendB = one(spans, "send otrace-billing", SpanKind.PRODUCER);
            SpanData processC = one(spans, "process otrace-billing", SpanKind.CONSUMER);
            assertThat(stored.getParentSpanId()).isEqualTo(root.getSpanId());
            assertThat(processB.getParentSpanId()).as("relayed later, still under the outbox send")
                    .isEqualTo(stored.getSpanId());
            assertThat(sendB.getParentSpanId()).isEqualTo(processB.getSpanId());
            assertThat(processC.getParentSpanId()).isEqualTo(sendB.getSpanId());
            assertThat(spans).extracting(SpanData::getTraceId).containsOnly(root.getTraceId());
            assertThat(processB.getAttributes().get(EventBusTracing.MESSAGING_SYSTEM)).isEqualTo("jdbc");
            assertThat(processB.getLinks()).as("the creation-context link survives the relay")
                    .extracting(l -> l.getSpanContext().getSpanId()).containsExactly(stored.getSpanId());
            assertThat(processC.getLinks()).extracting(l -> l.getSpanContext().getSpanId())
                    .containsExactly(sendB.getSpanId());
            assertThat(List.of(root, stored, sendB)).allSatisfy(s -> assertThat(s.getLinks()).isEmpty());
            assertThat(seen.get("b").getSpanId()).isEqualTo(processB.getSpanId());
            assertThat(seen.get("c").getSpanId()).isEqualTo(processC.getSpanId());
        }
    }

    private static SpanData one(List<SpanData> spans, String name, SpanKind kind) {
        List<SpanData> found = spans.stream().filter(s -> s.getName().equals(name) && s.getKind() == kind).toList();
        assertThat(found).as("%s spans named '%s' in %s", kind, name, spans).hasSize(1);
        return found.get(0);
    }
}
