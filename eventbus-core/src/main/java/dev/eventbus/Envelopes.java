package dev.eventbus;

import dev.eventbus.internal.HeaderMap;
import dev.eventbus.internal.Timestamps;
import dev.eventbus.internal.Uuid7;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;

import java.time.Instant;
import java.util.Map;

/**
 * Wraps events in envelopes and turns envelopes into wire messages: the step of the publish path between the
 * route and the transport. The envelope gets a time-ordered id (unless the event brings its own), the bus's
 * service as source, the key as subject and its lineage (correlation, causation, trace) from the event being
 * handled; the message gets the CloudEvents headers and the serialized body. Thread-safe.
 */
final class Envelopes {

    private final String service;
    private final EventTypes types;
    private final Serializer serializer;

    Envelopes(String service, EventTypes types, Serializer serializer) {
        this.service = service;
        this.types = types;
        this.serializer = serializer;
    }

    Envelope<?> newEnvelope(Object event, EventTypes.Info info, PublishOptions options, Lineage parent,
                            long publishedMillis) {
        return newEnvelope(event, info, options, parent, publishedMillis, null);
    }

    /** @param drawnId the id to give it unless the event supplies its own, or null to draw one */
    Envelope<?> newEnvelope(Object event, EventTypes.Info info, PublishOptions options, Lineage parent,
                            long publishedMillis, String drawnId) {
        String id = null;
        String type = null;
        String key = options.key();
        if (event instanceof Event e) {
            id = e.eventId();
            type = e.eventType();
            if (key == null) {
                key = e.eventKey();
            }
        }
        if (id == null) {
            id = drawnId != null ? drawnId : Uuid7.next();
        }
        if (type == null) {
            type = info.name();
        } else if (!type.equals(info.name())) {
            types.alias(info.type(), type);
        }
        Instant time = publishedMillis == 0 ? Instant.now() : Instant.ofEpochMilli(publishedMillis);
        return new Envelope<>(id, type, info.version(), service, time, key, serializerFor(info).contentType(),
                parent == null ? null : parent.correlationId(), parent == null ? null : parent.id(),
                parent == null ? null : parent.traceparent(), options.headers(),
                options.stream() != null ? options.stream() : info.stream(), 1, event);
    }

    /** The serializer of {@code info}'s type: its own, or the bus's. */
    Serializer serializerFor(EventTypes.Info info) {
        return info.serializer() != null ? info.serializer() : serializer;
    }

    /** The wire form of {@code envelope}: CloudEvents headers, serialized body, delivery time and priority. */
    TransportMessage encode(Envelope<?> envelope, EventTypes.Info info, PublishOptions options) {
        byte[] body = serializerFor(info).serialize(envelope.event());
        Instant deliverAt = options.delay() == null || options.delay().isZero() ? null : Instant.now().plus(options.delay());
        return new TransportMessage(envelope.stream(), envelope.subject(), headersOf(envelope, info), body, deliverAt,
                options.priority());
    }

    static Map<String, String> headersOf(Envelope<?> e, EventTypes.Info info) {
        HeaderMap.Builder h = new HeaderMap.Builder(12 + e.headers().size());
        h.append(MessageHeaders.ID, e.id());
        h.append(MessageHeaders.SPECVERSION, MessageHeaders.SPEC_VERSION_1_0);
        h.append(MessageHeaders.SOURCE, e.source());
        h.append(MessageHeaders.TYPE, e.type());
        h.append(MessageHeaders.TIME, Timestamps.format(e.time()));
        h.put(MessageHeaders.SUBJECT, e.subject());
        h.append(MessageHeaders.DATACONTENTTYPE, e.dataContentType());
        h.append(MessageHeaders.SCHEMA_VERSION, info.versionText());
        h.append(MessageHeaders.CORRELATION_ID, e.correlationId());
        h.put(MessageHeaders.CAUSATION_ID, e.causationId());
        h.put(MessageHeaders.TRACEPARENT, e.traceparent());
        if (!e.headers().isEmpty()) {
            e.headers().forEach(h::putIfAbsent);
        }
        return h.build();
    }
}
