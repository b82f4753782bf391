package dev.eventbus;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * An event with its metadata, named after the CloudEvents attributes ({@code id}, {@code source}, {@code type},
 * {@code time}, {@code subject}, {@code datacontenttype}, {@code specversion}) and extensions
 * ({@code correlationid}, {@code causationid}, {@code traceparent}), plus free headers and the delivery attempt.
 *
 * <p>A subscriber receives one by declaring an {@code Envelope<E>} parameter; publish interceptors may return a
 * changed copy ({@link #withHeader}, {@link #withTraceparent}).
 *
 * <p>Immutable and thread-safe (as long as the event itself is).
 *
 * @param <E> the event type
 */
public final class Envelope<E> implements Lineage {

    private final String id;
    private final String type;
    private final int version;
    private final String source;
    private Instant time; // parsed from timeText on first use: most subscribers never ask (benign race)
    private final String timeText;
    private final String subject;
    private final String dataContentType;
    private final String correlationId;
    private final String causationId;
    private final String traceparent;
    private final Map<String, String> headers;
    private final String stream;
    private final int attempt;
    private final E event;

    /** For the bus and transports; applications receive envelopes rather than build them. */
    public Envelope(String id, String type, int version, String source, Instant time, String subject,
                    String dataContentType, String correlationId, String causationId, String traceparent,
                    Map<String, String> headers, String stream, int attempt, E event) {
        this.id = Objects.requireNonNull(id, "id");
        this.type = Objects.requireNonNull(type, "type");
        this.version = version;
        this.source = source;
        this.time = time;
        this.timeText = null;
        this.subject = subject;
        this.dataContentType = dataContentType;
        this.correlationId = correlationId == null ? id : correlationId;
        this.causationId = causationId;
        this.traceparent = traceparent;
        this.headers = headers == null ? Map.of() : Map.copyOf(headers);
        this.stream = stream;
        this.attempt = attempt;
        this.event = Objects.requireNonNull(event, "event");
    }

    /** For deliveries: the {@code time} header is parsed only if someone asks for it. */
    Envelope(String id, String type, int version, String source, String timeText, String subject,
             String dataContentType, String correlationId, String causationId, String traceparent,
             Map<String, String> headers, String stream, int attempt, E event) {
        this(id, type, version, source, (Instant) null, subject, dataContentType, correlationId, causationId,
                traceparent, headers, stream, attempt, event, timeText);
    }

    private Envelope(String id, String type, int version, String source, Instant time, String subject,
                     String dataContentType, String correlationId, String causationId, String traceparent,
                     Map<String, String> headers, String stream, int attempt, E event, String timeText) {
        this.id = Objects.requireNonNull(id, "id");
        this.type = Objects.requireNonNull(type, "type");
        this.version = version;
        this.source = source;
        this.time = time;
        this.timeText = timeText;
        this.subject = subject;
        this.dataContentType = dataContentType;
        this.correlationId = correlationId == null ? id : correlationId;
        this.causationId = causationId;
        this.traceparent = traceparent;
        this.headers = headers == null ? Map.of() : Map.copyOf(headers);
        this.stream = stream;
        this.attempt = attempt;
        this.event = Objects.requireNonNull(event, "event");
    }

    /** CloudEvents {@code id}: unique per event, a time-ordered UUIDv7 unless the event supplied its own. */
    public String id() {
        return id;
    }

    /** CloudEvents {@code type}: the event's wire name. */
    public String type() {
        return type;
    }

    /** The schema version the event was written with (after upcasting: the current version). */
    public int version() {
        return version;
    }

    /** CloudEvents {@code source}: the publishing service. */
    public String source() {
        return source;
    }

    /** CloudEvents {@code time}: when it was published; null when a foreign producer sent none or an unreadable one. */
    public Instant time() {
        Instant t = time;
        if (t == null && timeText != null) {
            t = dev.eventbus.internal.Timestamps.parseOrNull(timeText);
            time = t;
        }
        return t;
    }

    /** CloudEvents {@code subject}: the event's key, or null. */
    public String subject() {
        return subject;
    }

    /** CloudEvents {@code datacontenttype} of the body on the wire, e.g. {@code application/json}. */
    public String dataContentType() {
        return dataContentType;
    }

    /** CloudEvents {@code specversion}: always {@code 1.0}. */
    public String specVersion() {
        return "1.0";
    }

    /** The id shared by every event of one flow: inherited from the event being handled when this one was published. */
    public String correlationId() {
        return correlationId;
    }

    /** The id of the event whose handler published this one, or null. */
    public String causationId() {
        return causationId;
    }

    /** W3C trace context, or null. */
    public String traceparent() {
        return traceparent;
    }

    /** Free headers given at publish time (CloudEvents extensions). Unmodifiable. */
    public Map<String, String> headers() {
        return headers;
    }

    /** The stream it travelled on. */
    public String stream() {
        return stream;
    }

    /** 1 for the first time a subscriber is invoked with this event, 2 for the first retry, and so on. */
    public int attempt() {
        return attempt;
    }

    /** The event. */
    public E event() {
        return event;
    }

    /** A copy with one more header. */
    public Envelope<E> withHeader(String name, String value) {
        Map<String, String> h = new LinkedHashMap<>(headers);
        h.put(name, value);
        return new Envelope<>(id, type, version, source, time, subject, dataContentType, correlationId, causationId,
                traceparent, h, stream, attempt, event, timeText);
    }

    /** A copy with another trace context. */
    public Envelope<E> withTraceparent(String value) {
        return new Envelope<>(id, type, version, source, time, subject, dataContentType, correlationId, causationId,
                value, headers, stream, attempt, event, timeText);
    }

    /** A copy for another attempt. */
    Envelope<E> withAttempt(int n) {
        return n == attempt ? this : new Envelope<>(id, type, version, source, time, subject, dataContentType,
                correlationId, causationId, traceparent, headers, stream, n, event, timeText);
    }

    /** A copy carrying another event object (same metadata). */
    <F> Envelope<F> withEvent(F other) {
        return new Envelope<>(id, type, version, source, time, subject, dataContentType, correlationId, causationId,
                traceparent, headers, stream, attempt, other, timeText);
    }

    @Override
    public String toString() {
        return "Envelope{id=" + id + ", type=" + type + ", subject=" + subject + ", stream=" + stream
                + ", attempt=" + attempt + ", event=" + event + '}';
    }
}
