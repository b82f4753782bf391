package dev.eventbus.opentelemetry;

import dev.eventbus.DispatchMode;
import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.OverflowPolicy;
import dev.eventbus.RetryPolicy;
import io.opentelemetry.api.baggage.Baggage;
import io.opentelemetry.api.baggage.propagation.W3CBaggagePropagator;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.context.propagation.TextMapPropagator;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.SimpleSpanProcessor;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.assertj.core.api.Assertions.assertThat;

class EventBusTracingTest {

    @EventType(name = "trace.order-placed", stream = "trace-orders")
    record OrderPlaced(String orderId) {
    }

    @EventType(name = "trace.order-billed", stream = "trace-billing")
    record OrderBilled(String orderId) {
    }

    private final InMemorySpanExporter exporter = InMemorySpanExporter.create();
    private OpenTelemetrySdk otel;

    @BeforeEach
    void setUp() {
        otel = sdk(Sampler.alwaysOn());
    }

    private OpenTelemetrySdk sdk(Sampler sampler) {
        return OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder().setSampler(sampler)
                        .addSpanProcessor(SimpleSpanProcessor.create(exporter)).build())
                .setPropagators(ContextPropagators.create(TextMapPropagator.composite(
                        W3CTraceContextPropagator.getInstance(), W3CBaggagePropagator.getInstance())))
                .build();
    }

    @AfterEach
    void tearDown() {
        otel.close();
    }

    /** Handler of OrderPlaced publishes OrderBilled; both handlers record the current span. */
    private static final class Flow {
        final Map<String, SpanContext> seen = new ConcurrentHashMap<>();
        final List<String> baggage = new CopyOnWriteArrayList<>();

        void wire(EventBus bus) {
            bus.subscribe(OrderPlaced.class, "billing", e -> {
                seen.put("placed", Span.current().getSpanContext());
                bus.publish(new OrderBilled(e.orderId())).join();
            });
            bus.subscribe(OrderBilled.class, "shipping", e -> {
                seen.put("billed", Span.current().getSpanContext());
                baggage.add(String.valueOf(Baggage.current().getEntryValue("tenant")));
            });
        }
    }

    @Test
    void syncInMemoryGivesTheExactTreePublishHandlerNestedPublishHandler() {
        EventBusTracing tracing = EventBusTracing.create(otel);
        try (EventBus bus = tracing.build(EventBus.builder().service("trace-sync"))) {
            Flow flow = new Flow();
            flow.wire(bus);
            try (Scope ignored = Baggage.builder().put("tenant", "acme").build().makeCurrent()) {
                bus.publish(new OrderPlaced("o-1")).join();
            }
            assertTree(flow, "memory");
            assertThat(flow.baggage).containsExactly("acme");
        }
    }

    @Test
    void asyncInMemoryGivesTheSameTreeAcrossThreads() throws Exception {
        EventBusTracing tracing = EventBusTracing.create(otel);
        try (EventBus bus = tracing.build(EventBus.builder().service("trace-async")
                .asyncDispatch(2, 1024, OverflowPolicy.BLOCK, Duration.ofSeconds(5)))) {
            Flow flow = new Flow();
            flow.wire(bus);
            bus.publish(new OrderPlaced("o-2")).join();
            awaitSpans(s -> s.getName().equals("process trace-billing"), 1);
            assertTree(flow, "memory");
        }
    }

    private void assertTree(Flow flow, String system) {
        awaitSpans(s -> true, 4);
        List<SpanData> spans = exporter.getFinishedSpanItems();
        assertThat(spans).hasSize(4);
        SpanData sendPlaced = one(spans, "send trace-orders");
        SpanData processPlaced = one(spans, "process trace-orders");
        SpanData sendBilled = one(spans, "send trace-billing");
        SpanData processBilled = one(spans, "process trace-billing");

        assertThat(sendPlaced.getKind()).isEqualTo(SpanKind.PRODUCER);
        assertThat(sendPlaced.getParentSpanContext().isValid()).isFalse();
        assertThat(processPlaced.getKind()).isEqualTo(SpanKind.CONSUMER);
        assertThat(processPlaced.getParentSpanId()).isEqualTo(sendPlaced.getSpanId());
        assertThat(sendBilled.getKind()).isEqualTo(SpanKind.PRODUCER);
        assertThat(sendBilled.getParentSpanId()).isEqualTo(processPlaced.getSpanId());
        assertThat(processBilled.getKind()).isEqualTo(SpanKind.CONSUMER);
        assertThat(processBilled.getParentSpanId()).isEqualTo(sendBilled.getSpanId());
        assertThat(spans).extracting(SpanData::getTraceId).containsOnly(sendPlaced.getTraceId());

        // User code saw the consumer span as current.
        assertThat(flow.seen.get("placed").getSpanId()).isEqualTo(processPlaced.getSpanId());
        assertThat(flow.seen.get("billed").getSpanId()).isEqualTo(processBilled.getSpanId());

        assertThat(sendPlaced.getAttributes().get(EventBusTracing.MESSAGING_SYSTEM)).isEqualTo(system);
        assertThat(sendPlaced.getAttributes().get(EventBusTracing.OPERATION_TYPE)).isEqualTo("send");
        assertThat(sendPlaced.getAttributes().get(EventBusTracing.DESTINATION)).isEqualTo("trace-orders");
        assertThat(sendPlaced.getAttributes().get(EventBusTracing.MESSAGE_ID))
                .isEqualTo(processPlaced.getAttributes().get(EventBusTracing.MESSAGE_ID)).isNotBlank();
        assertThat(processPlaced.getAttributes().get(EventBusTracing.MESSAGING_SYSTEM)).isEqualTo(system);
        assertThat(processPlaced.getAttributes().get(EventBusTracing.OPERATION_TYPE)).isEqualTo("process");
        assertThat(processPlaced.getAttributes().get(EventBusTracing.CONSUMER_GROUP)).isEqualTo("billing");
        assertThat(processBilled.getAttributes().get(EventBusTracing.CONSUMER_GROUP)).isEqualTo("shipping");
        assertThat(processPlaced.getAttributes().get(EventBusTracing.OUTCOME)).isEqualTo("ack");
        assertThat(processPlaced.getAttributes().get(EventBusTracing.ATTEMPT)).isEqualTo(1L);
    }

    @Test
    void retriesAndDeadLetteringAreVisibleOnTheConsumerSpans() throws Exception {
        EventBusTracing tracing = EventBusTracing.create(otel);
        RetryPolicy retry = RetryPolicy.builder().maxAttempts(3).immediateRetries(1)
                .initialDelay(Duration.ofMillis(20)).maxDelay(Duration.ofMillis(20)).jitter(0).build();
        try (EventBus bus = tracing.build(EventBus.builder().service("trace-retry").retryPolicy(retry)
                .subscriberExceptionHandler((e, c) -> { }))) {
            java.util.concurrent.atomic.AtomicInteger okCalls = new java.util.concurrent.atomic.AtomicInteger();
            java.util.concurrent.atomic.AtomicBoolean fixed = new java.util.concurrent.atomic.AtomicBoolean();
            bus.register(new Object() {
                @dev.eventbus.Subscribe(group = "flaky")
                void on(Envelope<OrderPlaced> e) {
                    orderIds.put(e.id(), e.event().orderId());
                    if (e.event().orderId().equals("always-fails") && fixed.get()) {
                        return;
                    }
                    if (!e.event().orderId().equals("ok-on-2") || okCalls.incrementAndGet() == 1) {
                        throw new IllegalStateException("boom " + e.event().orderId());
                    }
                }
            });
            bus.publish(new OrderPlaced("ok-on-2")).join();
            bus.publish(new OrderPlaced("always-fails")).join();
            // ok-on-2: attempt 1 fails, attempt 2 (immediate) succeeds; always-fails: 1 and 2 fail at once,
            // 3 after a delayed redelivery, then dead.
            awaitSpans(s -> "dead".equals(s.getAttributes().get(EventBusTracing.OUTCOME)), 1);
            List<SpanData> process = exporter.getFinishedSpanItems().stream()
                    .filter(s -> s.getKind() == SpanKind.CONSUMER).toList();
            assertThat(process).hasSize(5);
            List<SpanData> ok = process.stream().filter(s -> s.getTraceId().equals(traceOf("ok-on-2"))).toList();
            assertThat(ok).extracting(s -> s.getAttributes().get(EventBusTracing.OUTCOME))
                    .containsExactly("retry", "ack");
            assertThat(ok).extracting(s -> s.getAttributes().get(EventBusTracing.ATTEMPT)).containsExactly(1L, 2L);
            assertThat(ok.get(0).getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
            assertThat(ok.get(0).getAttributes().get(EventBusTracing.ERROR_TYPE))
                    .isEqualTo(IllegalStateException.class.getName());
            assertThat(ok.get(1).getStatus().getStatusCode()).isEqualTo(StatusCode.UNSET);

            List<SpanData> bad = process.stream().filter(s -> s.getTraceId().equals(traceOf("always-fails")))
                    .toList();
            assertThat(bad).extracting(s -> s.getAttributes().get(EventBusTracing.OUTCOME))
                    .containsExactly("retry", "retry", "dead");
            assertThat(bad).extracting(s -> s.getAttributes().get(EventBusTracing.ATTEMPT))
                    .containsExactly(1L, 2L, 3L);
            assertThat(bad.get(2).getEvents()).extracting(ev -> ev.getName()).contains("dead_letter");
            // The delayed redelivery stays in the original trace, under the original publish.
            SpanData send = exporter.getFinishedSpanItems().stream()
                    .filter(s -> s.getKind() == SpanKind.PRODUCER && s.getTraceId().equals(traceOf("always-fails")))
                    .findFirst().orElseThrow();
            assertThat(bad).extracting(SpanData::getParentSpanId).containsOnly(send.getSpanId());

            // A replayed dead letter is handled in the original trace too.
            fixed.set(true);
            long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (bus.deadLetters().list("flaky").isEmpty() && System.nanoTime() < until) {
                Thread.sleep(10); // the span ends with the decision, just before the transport stores the letter
            }
            assertThat(bus.deadLetters().replayAll("flaky")).isEqualTo(1);
            awaitSpans(s -> s.getKind() == SpanKind.CONSUMER && s.getTraceId().equals(send.getTraceId())
                    && "ack".equals(s.getAttributes().get(EventBusTracing.OUTCOME)), 1);
            SpanData replayed = exporter.getFinishedSpanItems().stream()
                    .filter(s -> s.getKind() == SpanKind.CONSUMER && s.getTraceId().equals(send.getTraceId())
                            && "ack".equals(s.getAttributes().get(EventBusTracing.OUTCOME))).findFirst().orElseThrow();
            assertThat(replayed.getParentSpanId()).isEqualTo(send.getSpanId());
        }
    }

    @Test
    void anUnsampledPublishStillPropagatesAndRecordsNothing() {
        otel.close();
        exporter.reset();
        otel = sdk(Sampler.alwaysOff());
        EventBusTracing tracing = EventBusTracing.create(otel);
        try (EventBus bus = tracing.build(EventBus.builder().service("trace-unsampled"))) {
            Flow flow = new Flow();
            flow.wire(bus);
            bus.publish(new OrderPlaced("o-3")).join();
            assertThat(exporter.getFinishedSpanItems()).isEmpty();
            assertThat(flow.seen.get("placed").isValid()).isTrue();
            assertThat(flow.seen.get("placed").isSampled()).isFalse();
            assertThat(flow.seen.get("billed").getTraceId()).isEqualTo(flow.seen.get("placed").getTraceId());
        }
    }

    @Test
    void theTraceparentHeaderIsTheProducerSpanAndCarriesTracestate() {
        EventBusTracing tracing = EventBusTracing.create(otel);
        List<Envelope<?>> received = new CopyOnWriteArrayList<>();
        try (EventBus bus = tracing.build(EventBus.builder().service("trace-headers").dispatch(DispatchMode.SYNC))) {
            bus.subscribe(OrderPlaced.class, e -> { });
            bus.register(new Object() {
                @dev.eventbus.Subscribe
                void on(Envelope<OrderPlaced> e) {
                    received.add(e);
                }
            });
            SpanContext remote = SpanContext.createFromRemoteParent("0af7651916cd43dd8448eb211c80319c",
                    "b7ad6b7169203331", io.opentelemetry.api.trace.TraceFlags.getSampled(),
                    io.opentelemetry.api.trace.TraceState.builder().put("vendor", "x1").build());
            try (Scope ignored = Context.root().with(Span.wrap(remote)).makeCurrent()) {
                bus.publish(new OrderPlaced("o-4")).join();
            }
            SpanData send = one(exporter.getFinishedSpanItems(), "send trace-orders");
            assertThat(send.getTraceId()).isEqualTo("0af7651916cd43dd8448eb211c80319c");
            assertThat(send.getParentSpanId()).isEqualTo("b7ad6b7169203331");
            assertThat(received).hasSize(1);
            assertThat(received.get(0).traceparent()).isEqualTo("00-" + send.getTraceId() + "-" + send.getSpanId()
                    + "-01");
            assertThat(received.get(0).headers()).containsEntry("tracestate", "vendor=x1");
        }
    }

    private final Map<String, String> orderIds = new ConcurrentHashMap<>();

    private String traceOf(String orderId) {
        return exporter.getFinishedSpanItems().stream()
                .filter(s -> s.getKind() == SpanKind.PRODUCER)
                .filter(s -> orderId.equals(orderIds.get(s.getAttributes().get(EventBusTracing.MESSAGE_ID))))
                .map(SpanData::getTraceId).findFirst().orElseThrow();
    }

    private static SpanData one(List<SpanData> spans, String name) {
        List<SpanData> found = spans.stream().filter(s -> s.getName().equals(name)).toList();
        assertThat(found).as("spans named '%s' in %s", name, spans).hasSize(1);
        return found.get(0);
    }

    private void awaitSpans(Predicate<SpanData> p, int n) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (exporter.getFinishedSpanItems().stream().filter(p).count() < n) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("expected " + n + " matching spans, got " + exporter.getFinishedSpanItems());
            }
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
