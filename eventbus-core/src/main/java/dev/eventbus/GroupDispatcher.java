package dev.eventbus;

import dev.eventbus.internal.Timestamps;
import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.TransportMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The bus's handler for one consumer group on one stream of a transport: the consuming half of the one path.
 *
 * <p>Checks the type header first (a type nobody in the group wants is acknowledged without decoding), decodes
 * only registered types (never a class named by the wire), rebuilds the envelope, then calls each subscriber of
 * the group through the consume interceptors, with the retry policy's immediate retries in process. It answers
 * the transport with one {@link Outcome}: ACK; RETRY after the policy's delay, naming in
 * {@link MessageHeaders#PENDING_SUBSCRIBERS} the subscribers that still have to succeed; or DEAD with the reason
 * and failure headers. Malformed messages (missing headers, bytes that do not parse, a newer schema version) are
 * DEAD at once, and the transport moves on.
 *
 * <p>Thread-safe: the transport may call it from several threads.
 */
final class GroupDispatcher implements MessageHandler {

    private static final Logger log = LoggerFactory.getLogger(GroupDispatcher.class);
    private static final Set<String> CE_ATTRIBUTES = Set.of(MessageHeaders.ID, MessageHeaders.SPECVERSION,
            MessageHeaders.SOURCE, MessageHeaders.TYPE, MessageHeaders.TIME, MessageHeaders.SUBJECT,
            MessageHeaders.DATACONTENTTYPE, MessageHeaders.DATASCHEMA, MessageHeaders.CORRELATION_ID,
            MessageHeaders.CAUSATION_ID, MessageHeaders.TRACEPARENT, MessageHeaders.SCHEMA_VERSION);

    private final EventBus bus;
    private final String group;
    private final String stream;

    GroupDispatcher(EventBus bus, String group, String stream) {
        this.bus = bus;
        this.group = group;
        this.stream = stream;
    }

    @Override
    public Outcome handle(Delivery delivery) {
        TransportMessage m = delivery.message();
        String type = m.type();
        if (type == null) {
            return malformed(delivery, "missing header '" + MessageHeaders.TYPE + "' (CloudEvents type)", null);
        }
        if (m.id() == null) {
            return malformed(delivery, "missing header '" + MessageHeaders.ID + "' (CloudEvents id)", null);
        }
        EventTypes.Info info = bus.types.byName(type);
        if (info == null) {
            bus.counters.unknownTypes.increment();
            if (bus.unknownTypes == UnknownTypePolicy.IGNORE) {
                log.debug("group '{}' ignored event {} of unknown type '{}'", group, m.id(), type);
                return Outcome.ack();
            }
            return malformed(delivery, "unknown event type '" + type + "': no class is registered for it on bus '"
                    + bus.serviceName() + "' (annotate the class with @EventType(name = \"" + type
                    + "\") and subscribe to it, or register it with EventBus.Builder.eventType)", null);
        }
        List<Subscriber> subscribers = bus.subscribersOf(info.type(), group);
        String pending = m.header(MessageHeaders.PENDING_SUBSCRIBERS);
        if (pending != null) {
            Set<String> ids = Set.of(pending.split(MessageHeaders.PENDING_SEPARATOR));
            subscribers.removeIf(s -> !ids.contains(s.id));
        }
        if (subscribers.isEmpty()) {
            bus.counters.skipped.increment();
            return Outcome.ack();
        }
        int version = 1;
        String v = m.header(MessageHeaders.SCHEMA_VERSION);
        if (v != null) {
            try {
                version = Integer.parseInt(v.trim());
            } catch (NumberFormatException e) {
                return malformed(delivery, "header '" + MessageHeaders.SCHEMA_VERSION + "' is not a number: '" + v + "'", e);
            }
        }
        if (version > info.version()) {
            return malformed(delivery, "event type '" + type + "' arrived at schema version " + version
                    + ", newer than version " + info.version() + " known to " + info.type().getName(), null);
        }
        Object event;
        try {
            event = bus.serializerFor(info).deserialize(m.body(), info.type(), type, version);
            if (event == null) {
                throw new Serializer.SerializationException("the body decoded to null", null);
            }
        } catch (RuntimeException e) {
            return malformed(delivery, "cannot decode the body of '" + type + "' as " + info.type().getName() + ": "
                    + e.getMessage(), e);
        }
        int attemptsSoFar = parseAttempts(m.header(MessageHeaders.ATTEMPTS));
        Envelope<Object> envelope = envelopeOf(m, info, event, attemptsSoFar + 1);
        String firstFailure = m.header(MessageHeaders.FIRST_FAILURE);

        List<String> retrying = new ArrayList<>();
        List<String> dead = new ArrayList<>();
        Duration delay = null;
        int maxAttempt = attemptsSoFar;
        Throwable deadCause = null;
        String deadReason = null;
        Throwable retryCause = null;
        DispatchContext ctx = DispatchContext.current();
        ctx.push(envelope);
        try {
            for (Subscriber s : subscribers) {
                int attempt = attemptsSoFar + 1;
                while (true) {
                    try {
                        bus.invoke(s, envelope.withAttempt(attempt));
                        bus.counters.delivered.increment();
                        break;
                    } catch (Throwable t) {
                        bus.counters.failures.increment();
                        if (firstFailure == null) {
                            firstFailure = Instant.now().toString();
                        }
                        boolean retriable = bus.retry.isRetriable(t);
                        boolean more = retriable && attempt < bus.retry.maxAttempts();
                        bus.reportFailure(t, envelope.withAttempt(attempt), s, attempt, more);
                        maxAttempt = Math.max(maxAttempt, attempt);
                        if (!more) {
                            dead.add(s.id);
                            if (deadCause == null) {
                                deadCause = t;
                                deadReason = retriable
                                        ? s.id + " gave up after " + attempt + " attempt" + (attempt == 1 ? "" : "s")
                                        : s.id + " threw fatal " + t.getClass().getName() + " (not retried)";
                            }
                            break;
                        }
                        if (bus.retry.isImmediate(attempt + 1)) {
                            attempt++;
                            continue;
                        }
                        retrying.add(s.id);
                        retryCause = t;
                        Duration d = bus.retry.delayBefore(attempt + 1);
                        delay = delay == null || d.compareTo(delay) < 0 ? d : delay;
                        break;
                    }
                }
            }
        } finally {
            ctx.pop();
        }
        if (!dead.isEmpty()) {
            bus.counters.deadLettered.increment();
            List<String> failed = new ArrayList<>(dead);
            failed.addAll(retrying);
            Map<String, String> h = EventBus.failureHeaders(deadCause, maxAttempt, firstFailure, deadReason,
                    delivery.origin());
            h.put(MessageHeaders.PENDING_SUBSCRIBERS, String.join(MessageHeaders.PENDING_SEPARATOR, failed));
            log.warn("group '{}' dead-lettered event {} ({}): {}", group, m.id(), type, deadReason);
            return Outcome.dead(deadReason, deadCause, h);
        }
        if (!retrying.isEmpty()) {
            bus.counters.retries.increment();
            Map<String, String> h = new LinkedHashMap<>();
            h.put(MessageHeaders.ATTEMPTS, Integer.toString(maxAttempt));
            h.put(MessageHeaders.FIRST_FAILURE, firstFailure);
            h.put(MessageHeaders.PENDING_SUBSCRIBERS, String.join(MessageHeaders.PENDING_SEPARATOR, retrying));
            return Outcome.retry(delay, retryCause, h);
        }
        return Outcome.ack();
    }

    private Outcome malformed(Delivery delivery, String reason, Throwable cause) {
        bus.counters.deadLettered.increment();
        log.warn("group '{}' on '{}' dead-lettered message {} from {}: {}", group, stream,
                delivery.message().id(), delivery.origin(), reason);
        Map<String, String> h = EventBus.failureHeaders(cause, parseAttempts(
                delivery.message().header(MessageHeaders.ATTEMPTS)), null, reason, delivery.origin());
        return Outcome.dead(reason, cause, h);
    }

    private static int parseAttempts(String s) {
        if (s == null) {
            return 0;
        }
        try {
            return Math.max(0, Integer.parseInt(s.trim()));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private static Envelope<Object> envelopeOf(TransportMessage m, EventTypes.Info info, Object event, int attempt) {
        // A foreign producer's odd timestamp is no reason to drop the event: null then.
        Instant time = Timestamps.parseOrNull(m.header(MessageHeaders.TIME));
        Map<String, String> extensions = new HashMap<>();
        m.headers().forEach((k, v) -> {
            if (!CE_ATTRIBUTES.contains(k) && !k.startsWith("eventbus-")) {
                extensions.put(k, v);
            }
        });
        String subject = m.header(MessageHeaders.SUBJECT);
        return new Envelope<>(m.id(), m.type(), info.version(), m.header(MessageHeaders.SOURCE), time,
                subject != null ? subject : m.key(), m.header(MessageHeaders.DATACONTENTTYPE),
                m.header(MessageHeaders.CORRELATION_ID), m.header(MessageHeaders.CAUSATION_ID),
                m.header(MessageHeaders.TRACEPARENT), extensions, m.stream(), attempt, event);
    }
}
