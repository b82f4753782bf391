package dev.eventbus;

import org.slf4j.MDC;

import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Pattern;

/**
 * Small, optional built-in interceptors.
 *
 * <pre>{@code
 * EventBus.builder()
 *     .publishInterceptor(Interceptors.traceContext())
 *     .consumeInterceptor(Interceptors.mdc())
 *     .build();
 * }</pre>
 *
 * <p>Every interceptor returned here is stateless and thread-safe.
 */
public final class Interceptors {

    /** MDC key of the event id while a subscriber runs. */
    public static final String MDC_EVENT_ID = "eventbus.id";
    /** MDC key of the event type while a subscriber runs. */
    public static final String MDC_EVENT_TYPE = "eventbus.type";
    /** MDC key of the correlation id while a subscriber runs. */
    public static final String MDC_CORRELATION_ID = "eventbus.correlationid";
    /** MDC key of the consumer group while a subscriber runs. */
    public static final String MDC_GROUP = "eventbus.group";

    private static final Pattern TRACEPARENT = Pattern.compile("00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}");

    private Interceptors() {
    }

    /**
     * Puts the event id, type, correlation id and group into the SLF4J MDC while each subscriber runs, and restores
     * what was there before, so every log line a handler writes can be tied to its flow.
     */
    public static ConsumeInterceptor mdc() {
        return chain -> {
            Envelope<?> e = chain.envelope();
            String[] keys = {MDC_EVENT_ID, MDC_EVENT_TYPE, MDC_CORRELATION_ID, MDC_GROUP};
            String[] values = {e.id(), e.type(), e.correlationId(), chain.group()};
            String[] previous = new String[keys.length];
            for (int i = 0; i < keys.length; i++) {
                previous[i] = MDC.get(keys[i]);
                if (values[i] != null) {
                    MDC.put(keys[i], values[i]);
                }
            }
            try {
                chain.proceed();
            } finally {
                for (int i = 0; i < keys.length; i++) {
                    if (previous[i] == null) {
                        MDC.remove(keys[i]);
                    } else {
                        MDC.put(keys[i], previous[i]);
                    }
                }
            }
        };
    }

    /**
     * W3C trace context on every published event: an event published while another is handled continues that
     * event's trace with a new span id; any other event starts a new trace. A valid {@code traceparent} already on
     * the envelope (set by an earlier interceptor from your tracer) is continued the same way.
     *
     * <p>A dependency-free fallback: it only draws ids, so the flow of events can be followed in logs and headers,
     * but no span reaches a tracing backend. With OpenTelemetry, use {@code EventBusTracing} from the
     * {@code eventbus-opentelemetry} module instead (it replaces this interceptor; do not add both): real spans,
     * your SDK's sampling and your configured propagator ({@code tracestate}, baggage).
     */
    public static PublishInterceptor traceContext() {
        return chain -> {
            Envelope<?> e = chain.envelope();
            String parent = e.traceparent();
            ThreadLocalRandom r = ThreadLocalRandom.current();
            String traceId = parent != null && TRACEPARENT.matcher(parent).matches()
                    ? parent.substring(3, 35)
                    : hex(r.nextLong() | 1, 16) + hex(r.nextLong(), 16);
            String flags = parent != null && TRACEPARENT.matcher(parent).matches() ? parent.substring(53, 55) : "01";
            return chain.proceed(e.withTraceparent("00-" + traceId + "-" + hex(r.nextLong() | 1, 16) + "-" + flags));
        };
    }

    private static String hex(long v, int digits) {
        String s = Long.toHexString(v);
        return s.length() >= digits ? s.substring(s.length() - digits) : "0".repeat(digits - s.length()) + s;
    }
}
