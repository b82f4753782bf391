package dev.eventbus.opentelemetry;

import dev.eventbus.ConsumeInterceptor;
import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.EventBusObserver;
import dev.eventbus.PublishInterceptor;
import dev.eventbus.Registration;
import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHeaders;
import io.opentelemetry.api.OpenTelemetry;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.common.Attributes;
import io.opentelemetry.api.trace.Span;
import io.opentelemetry.api.trace.SpanBuilder;
import io.opentelemetry.api.trace.SpanContext;
import io.opentelemetry.api.trace.SpanKind;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.api.trace.Tracer;
import io.opentelemetry.context.Context;
import io.opentelemetry.context.Scope;
import io.opentelemetry.context.propagation.TextMapGetter;
import io.opentelemetry.context.propagation.TextMapPropagator;
import io.opentelemetry.context.propagation.TextMapSetter;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * OpenTelemetry tracing for an {@link EventBus}: a {@link SpanKind#PRODUCER PRODUCER} span per publish and a
 * {@link SpanKind#CONSUMER CONSUMER} span per subscriber invocation, named and attributed per the OpenTelemetry
 * messaging semantic conventions, with the trace context carried in the CloudEvents distributed-tracing extension
 * ({@code traceparent}, {@code tracestate}; other fields of your propagator, such as {@code baggage}, as headers
 * of the same name).
 *
 * <pre>{@code
 * EventBusTracing tracing = EventBusTracing.create(openTelemetry);
 * EventBus bus = tracing.build(EventBus.builder().service("orders"));   // instrumented and observed
 * }</pre>
 *
 * <h2>What you get</h2>
 * <ul>
 *   <li>Publish: span {@code send <stream>} (kind PRODUCER), child of the current context, ended when the
 *       transport accepted the event (or failed: status ERROR, {@code error.type}). Its context is injected with
 *       the application's {@link TextMapPropagator} (from {@link OpenTelemetry#getPropagators()}), so any
 *       propagator and sampler work.</li>
 *   <li>Handling: span {@code process <stream>} (kind CONSUMER), child of the context extracted from the event,
 *       current while the subscriber runs on every transport and dispatch mode: {@code Span.current()} in a handler
 *       is it, and a publish made there is its child. One span per attempt, with {@code eventbus.attempt};
 *       a failed attempt records the exception, {@code error.type} and {@code eventbus.outcome} = {@code retry}
 *       or {@code dead} (plus a {@code dead_letter} event). Delayed retries, relayed outbox rows and replayed dead
 *       letters carry the original headers, so they stay in the original trace.</li>
 *   <li>Sampling is the SDK's decision: an unsampled publish still propagates its context.</li>
 * </ul>
 * This replaces {@code Interceptors.traceContext()}, the dependency-free fallback of core: do not add both.
 *
 * <h2>Threading and lifecycle</h2>
 * Immutable and thread-safe; one instance may serve many buses. Holds nothing to close (the application owns its
 * {@link OpenTelemetry}). Nothing here blocks. Spans of handlings are ended by the bus's {@link EventBusObserver}
 * (which knows the outcome): attach it with {@link #build} or {@link #observe}; without it they are ended by the
 * interceptor itself, without the outcome and transport attributes.
 */
public final class EventBusTracing {

    /** The instrumentation scope name of the spans. */
    public static final String INSTRUMENTATION_NAME = "dev.eventbus";

    static final AttributeKey<String> MESSAGING_SYSTEM = AttributeKey.stringKey("messaging.system");
    static final AttributeKey<String> DESTINATION = AttributeKey.stringKey("messaging.destination.name");
    static final AttributeKey<String> OPERATION_TYPE = AttributeKey.stringKey("messaging.operation.type");
    static final AttributeKey<String> OPERATION_NAME = AttributeKey.stringKey("messaging.operation.name");
    static final AttributeKey<String> MESSAGE_ID = AttributeKey.stringKey("messaging.message.id");
    static final AttributeKey<String> CONVERSATION_ID = AttributeKey.stringKey("messaging.message.conversation_id");
    static final AttributeKey<String> CONSUMER_GROUP = AttributeKey.stringKey("messaging.consumer.group.name");
    static final AttributeKey<String> KAFKA_KEY = AttributeKey.stringKey("messaging.kafka.message.key");
    static final AttributeKey<String> PARTITION_ID = AttributeKey.stringKey(Delivery.PARTITION_ID);
    static final AttributeKey<Long> KAFKA_OFFSET = AttributeKey.longKey(Delivery.KAFKA_OFFSET);
    static final AttributeKey<String> RABBITMQ_ROUTING_KEY =
            AttributeKey.stringKey("messaging.rabbitmq.destination.routing_key");
    static final AttributeKey<String> ERROR_TYPE = AttributeKey.stringKey("error.type");
    static final AttributeKey<String> EVENT_TYPE = AttributeKey.stringKey("cloudevents.event_type");
    static final AttributeKey<String> SUBSCRIBER = AttributeKey.stringKey("eventbus.subscriber");
    static final AttributeKey<Long> ATTEMPT = AttributeKey.longKey("eventbus.attempt");
    static final AttributeKey<String> OUTCOME = AttributeKey.stringKey("eventbus.outcome");

    /** {@code eventbus.outcome} values by {@link EventBusObserver.Handling} ordinal (not lower-cased per handling). */
    private static final String[] OUTCOMES = java.util.Arrays.stream(EventBusObserver.Handling.values())
            .map(h -> h.name().toLowerCase(java.util.Locale.ROOT)).toArray(String[]::new);

    private final Tracer tracer;
    private final TextMapPropagator propagator;
    private final Observer observer = new Observer();
    private final ConcurrentHashMap<String, String> sendNames = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, String> processNames = new ConcurrentHashMap<>();
    /** Set once an observer of this instance is attached to some bus: handling spans are then ended by it. */
    private volatile boolean observed;

    /** Handling spans waiting for the bus's decision, per thread (a stack: synchronous handlers nest). */
    private final ThreadLocal<ArrayDeque<Pending>> pending = ThreadLocal.withInitial(ArrayDeque::new);

    private EventBusTracing(OpenTelemetry openTelemetry) {
        this.tracer = openTelemetry.getTracer(INSTRUMENTATION_NAME);
        this.propagator = openTelemetry.getPropagators().getTextMapPropagator();
    }

    /**
     * Tracing with {@code openTelemetry}'s tracer and text-map propagator.
     *
     * @throws NullPointerException if {@code openTelemetry} is null
     */
    public static EventBusTracing create(OpenTelemetry openTelemetry) {
        return new EventBusTracing(Objects.requireNonNull(openTelemetry, "openTelemetry"));
    }

    /**
     * Adds this tracing's publish and consume interceptors to {@code builder}. Interceptors run in the order added:
     * call this before adding others (an inbox, logging) so that the spans wrap them and they see the span.
     */
    public EventBus.Builder instrument(EventBus.Builder builder) {
        return builder.publishInterceptor(publishInterceptor()).consumeInterceptor(consumeInterceptor());
    }

    /** {@link #instrument}s {@code builder}, builds the bus and {@link #observe}s it. */
    public EventBus build(EventBus.Builder builder) {
        EventBus bus = instrument(builder).build();
        observe(bus);
        return bus;
    }

    /**
     * Attaches this tracing's observer to {@code bus} (built with {@link #instrument}), so handling spans end
     * with the bus's decision (ack, retry, dead) and the transport's name.
     */
    public Registration observe(EventBus bus) {
        observed = true;
        return bus.observe(observer);
    }

    /** The publish interceptor: a PRODUCER span per publish, injected into the event's headers. */
    public PublishInterceptor publishInterceptor() {
        return this::interceptPublish;
    }

    /** The consume interceptor: a CONSUMER span per subscriber invocation, current while it runs. */
    public ConsumeInterceptor consumeInterceptor() {
        return this::interceptConsume;
    }

    /** The observer that ends handling spans with the outcome; attached by {@link #observe}. */
    public EventBusObserver observer() {
        return observer;
    }

    private CompletableFuture<Void> interceptPublish(PublishInterceptor.Chain chain) {
        Envelope<?> e = chain.envelope();
        String system = chain.transport();
        String stream = e.stream();
        // At creation only what the conventions call sampling-relevant; the rest once the sampler said it records
        // (an unsampled publish then costs no attribute map).
        SpanBuilder b = tracer.spanBuilder(name(sendNames, "send ", stream))
                .setSpanKind(SpanKind.PRODUCER)
                .setAttribute(OPERATION_TYPE, "send")
                .setAttribute(OPERATION_NAME, "send")
                .setAttribute(DESTINATION, stream);
        if (system != null) {
            b.setAttribute(MESSAGING_SYSTEM, system);
        }
        // Under a sampled parent (a publish from a traced handler or request) the SDK's default sampler records the
        // span: the other attributes then go on the builder, without the started span's lock per attribute.
        Context current = Context.current();
        boolean early = Span.fromContext(current).getSpanContext().isSampled();
        if (early) {
            publishAttributes(b, null, system, e);
        }
        Span span = b.startSpan();
        boolean recording = span.isRecording();
        if (recording && !early) {
            publishAttributes(null, span, system, e);
        }
        Context context = current.with(span);
        // Injected straight into the envelope (no intermediate map: this runs on every publish).
        Outgoing carrier = new Outgoing(e);
        propagator.inject(context, carrier, EnvelopeSetter.INSTANCE);
        Envelope<?> out = carrier.envelope;
        CompletableFuture<Void> sent;
        if (!recording) {
            // Unsampled: status and end are no-ops on such a span, so no completion stage (a future and a lambda
            // per publish, run on the transport's I/O thread) is added; only the context was needed.
            try (Scope ignored = context.makeCurrent()) {
                return chain.proceed(out);
            }
        }
        try (Scope ignored = context.makeCurrent()) {
            sent = chain.proceed(out);
        } catch (RuntimeException | Error t) {
            fail(span, t);
            span.end();
            throw t;
        }
        if (sent.isDone() && !sent.isCompletedExceptionally()) {
            span.end(); // in memory: no allocation for the common case
            return sent;
        }
        try {
            // Ended in the bus's own completion stage (the one its observers use), not a stage of ours: one future
            // and one completion less per publish, on the caller's thread and on the transport's I/O thread.
            chain.whenSent(new SpanEnd(span));
            return sent;
        } catch (UnsupportedOperationException notTheBusChain) {
            return sent.whenComplete((v, t) -> new SpanEnd(span).sent(t instanceof
                    java.util.concurrent.CompletionException && t.getCause() != null ? t.getCause() : t));
        }
    }

    /** Ends a publish span when its send completed, with the failure if any. */
    private record SpanEnd(Span span) implements PublishInterceptor.SendListener {
        @Override
        public void sent(Throwable failure) {
            if (failure != null) {
                fail(span, failure);
            }
            span.end();
        }
    }

    private void interceptConsume(ConsumeInterceptor.Chain chain) throws Exception {
        Envelope<?> e = chain.envelope();
        Context parent = propagator.extract(Context.current(), e, EnvelopeGetter.INSTANCE);
        String stream = e.stream();
        SpanBuilder b = tracer.spanBuilder(name(processNames, "process ", stream))
                .setParent(parent)
                .setSpanKind(SpanKind.CONSUMER)
                .setAttribute(OPERATION_TYPE, "process")
                .setAttribute(OPERATION_NAME, "process")
                .setAttribute(DESTINATION, stream)
                .setAttribute(CONSUMER_GROUP, chain.group());
        // The semantic conventions' creation-context link, besides the parent: it survives a parent-based
        // sampler or a processor that re-parents, and names the send a retried or replayed attempt belongs to.
        SpanContext creation = Span.fromContext(parent).getSpanContext();
        if (creation.isValid()) {
            b.addLink(creation);
        }
        // A sampled parent makes a recorded span under the SDK's default (parent-based) sampler: then the other
        // attributes go on the builder, which takes no lock per attribute (a started span takes one per call).
        // Otherwise only once the span is known to record, so an unsampled handling costs no attribute work.
        boolean early = creation.isSampled();
        if (early) {
            handlingAttributes(b, null, e, chain);
        }
        Span span = b.startSpan();
        if (!early && span.isRecording()) {
            handlingAttributes(null, span, e, chain);
        }
        Throwable failure = null;
        try (Scope ignored = parent.with(span).makeCurrent()) {
            chain.proceed();
        } catch (Exception | Error t) {
            failure = t;
            throw t;
        } finally {
            if (failure != null) {
                fail(span, failure);
            }
            if (observed) {
                pending.get().push(new Pending(span, e.id(), chain.subscriberId()));
            } else {
                span.end();
            }
        }
    }

    /** A handling span's attributes besides the sampling-relevant ones: on the builder {@code b}, else on {@code s}. */
    private static void handlingAttributes(SpanBuilder b, Span s, Envelope<?> e, ConsumeInterceptor.Chain chain) {
        set(b, s, MESSAGE_ID, e.id());
        set(b, s, CONVERSATION_ID, e.correlationId());
        set(b, s, EVENT_TYPE, e.type());
        set(b, s, SUBSCRIBER, chain.subscriberId());
        if (b != null) {
            b.setAttribute(ATTEMPT, (long) e.attempt());
        } else {
            s.setAttribute(ATTEMPT, (long) e.attempt());
        }
        deliveryAttributes(b, s, chain.deliveryAttributes());
    }

    private static void set(SpanBuilder b, Span s, AttributeKey<String> key, String value) {
        if (b != null) {
            b.setAttribute(key, value);
        } else {
            s.setAttribute(key, value);
        }
    }

    /**
     * The transport's facts about the delivery (partition, offset and key on Kafka, routing key on RabbitMQ), named
     * after the semantic conventions already; the offset is an int attribute there. The known names are asked for
     * one by one (Kafka's map answers those without building itself); only other names need the entries.
     */
    private static void deliveryAttributes(SpanBuilder b, Span s, Map<String, String> where) {
        int size = where.size();
        if (size == 0) {
            return;
        }
        int known = 0;
        String v;
        if ((v = where.get(Delivery.PARTITION_ID)) != null) {
            set(b, s, PARTITION_ID, v);
            known++;
        }
        if ((v = where.get(Delivery.KAFKA_OFFSET)) != null) {
            offset(b, s, v);
            known++;
        }
        if ((v = where.get(Delivery.KAFKA_MESSAGE_KEY)) != null) {
            set(b, s, KAFKA_KEY, v);
            known++;
        }
        if ((v = where.get(Delivery.RABBITMQ_ROUTING_KEY)) != null) {
            set(b, s, RABBITMQ_ROUTING_KEY, v);
            known++;
        }
        if (known == size) {
            return;
        }
        for (Map.Entry<String, String> a : where.entrySet()) {
            String k = a.getKey();
            if (a.getValue() != null && !k.equals(Delivery.PARTITION_ID) && !k.equals(Delivery.KAFKA_OFFSET)
                    && !k.equals(Delivery.KAFKA_MESSAGE_KEY) && !k.equals(Delivery.RABBITMQ_ROUTING_KEY)) {
                set(b, s, AttributeKey.stringKey(k), a.getValue());
            }
        }
    }

    private static void offset(SpanBuilder b, Span s, String v) {
        try {
            long o = Long.parseLong(v);
            if (b != null) {
                b.setAttribute(KAFKA_OFFSET, o);
            } else {
                s.setAttribute(KAFKA_OFFSET, o);
            }
        } catch (NumberFormatException notANumber) {
            set(b, s, AttributeKey.stringKey(Delivery.KAFKA_OFFSET), v);
        }
    }

    /** The span's name for {@code stream}, made once per stream (streams are few: bounded). */
    private static String name(ConcurrentHashMap<String, String> names, String operation, String stream) {
        if (stream == null) {
            return operation + "null";
        }
        String n = names.get(stream);
        if (n == null) {
            n = operation + stream;
            if (names.size() < 10_000) {
                names.put(stream, n);
            }
        }
        return n;
    }

    /** A publish span's attributes besides the sampling-relevant ones: on the builder {@code b}, else on {@code s}. */
    private static void publishAttributes(SpanBuilder b, Span s, String system, Envelope<?> e) {
        set(b, s, MESSAGE_ID, e.id());
        set(b, s, CONVERSATION_ID, e.correlationId());
        set(b, s, EVENT_TYPE, e.type());
        if ("kafka".equals(system) && e.subject() != null) {
            set(b, s, KAFKA_KEY, e.subject());
        } else if ("rabbitmq".equals(system)) {
            set(b, s, RABBITMQ_ROUTING_KEY, e.type());
        }
    }

    private static void fail(Span span, Throwable t) {
        span.recordException(t);
        span.setStatus(StatusCode.ERROR, String.valueOf(t.getMessage()));
        span.setAttribute(ERROR_TYPE, t.getClass().getName());
    }

    private record Pending(Span span, String eventId, String subscriberId) {
    }

    /** Ends the handling span of the invocation the bus just decided on, with the outcome. */
    private final class Observer implements EventBusObserver {
        @Override
        public void handled(Envelope<?> envelope, String transport, String group, String subscriberId,
                            Handling outcome, long nanos, Throwable failure) {
            ArrayDeque<Pending> stack = pending.get();
            Pending p = stack.peek();
            if (p == null || !p.eventId.equals(envelope.id()) || !p.subscriberId.equals(subscriberId)) {
                return; // not ours: a fast-path failure, or a bus without this tracing's interceptor
            }
            stack.pop();
            Span span = p.span;
            span.setAttribute(MESSAGING_SYSTEM, transport);
            span.setAttribute(OUTCOME, OUTCOMES[outcome.ordinal()]);
            if (outcome == Handling.DEAD) {
                span.addEvent("dead_letter", Attributes.of(ATTEMPT, (long) envelope.attempt()));
            } else if (outcome == Handling.RETRY) {
                span.addEvent("retry", Attributes.of(ATTEMPT, (long) envelope.attempt()));
            }
            span.end();
        }

        @Override
        public String toString() {
            return "EventBusTracing.observer";
        }
    }

    /** The envelope being published, as the propagator fills it in. */
    private static final class Outgoing {
        Envelope<?> envelope;

        Outgoing(Envelope<?> envelope) {
            this.envelope = envelope;
        }
    }

    /** Writes {@code traceparent} into the envelope's attribute, every other field into a header of its name. */
    private enum EnvelopeSetter implements TextMapSetter<Outgoing> {
        INSTANCE;

        @Override
        public void set(Outgoing carrier, String key, String value) {
            if (carrier != null && key != null && value != null) {
                carrier.envelope = MessageHeaders.TRACEPARENT.equals(key) ? carrier.envelope.withTraceparent(value)
                        : carrier.envelope.withHeader(key, value);
            }
        }
    }

    /** Reads {@code traceparent} from the envelope's attribute, every other field from its headers. */
    private enum EnvelopeGetter implements TextMapGetter<Envelope<?>> {
        INSTANCE;

        @Override
        public Iterable<String> keys(Envelope<?> carrier) {
            List<String> keys = new ArrayList<>(carrier.headers().keySet());
            if (carrier.traceparent() != null) {
                keys.add(MessageHeaders.TRACEPARENT);
            }
            return keys;
        }

        @Override
        public String get(Envelope<?> carrier, String key) {
            if (carrier == null) {
                return null;
            }
            return MessageHeaders.TRACEPARENT.equals(key) ? carrier.traceparent() : carrier.headers().get(key);
        }
    }
}
