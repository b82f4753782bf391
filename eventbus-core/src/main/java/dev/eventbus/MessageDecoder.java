package dev.eventbus;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;

import java.util.HashMap;
import java.util.Map;

/**
 * Reads a stored message back into the envelope a subscriber would receive (type lookup in the bus's registry,
 * upcasters, CloudEvents attributes), for {@link EventBus#decode}. Kept out of the bus's delivery path on purpose:
 * that one is tuned per message and also decides outcomes; this one only reads, and throws.
 */
final class MessageDecoder {

    private MessageDecoder() {
    }

    static Envelope<?> decode(EventBus bus, TransportMessage m) {
        String type = m.type();
        String id = m.id();
        if (type == null || id == null) {
            throw new EventBusException("cannot decode a message without the '" + MessageHeaders.TYPE + "' and '"
                    + MessageHeaders.ID + "' headers: " + m);
        }
        EventTypes.Info info = bus.types.byName(type);
        if (info == null) {
            throw new EventBusException("unknown event type '" + type + "': no class is registered for it on bus '"
                    + bus.serviceName() + "' (annotate the class with @EventType(name = \"" + type
                    + "\") and register it with EventBus.Builder.eventType or subscribe to it)");
        }
        int version = 1;
        String v = m.header(MessageHeaders.SCHEMA_VERSION);
        if (v != null) {
            try {
                version = Integer.parseInt(v.trim());
            } catch (NumberFormatException e) {
                throw new EventBusException("header '" + MessageHeaders.SCHEMA_VERSION + "' of event " + id
                        + " is not a number: '" + v + "'", e);
            }
        }
        if (version > info.version()) {
            throw new EventBusException("event " + id + " of type '" + type + "' has schema version " + version
                    + ", newer than version " + info.version() + " known to " + info.type().getName());
        }
        Object event = bus.envelopes.serializerFor(info).deserialize(m.body(), info.type(), type, version);
        if (event == null) {
            throw new Serializer.SerializationException("the body of event " + id + " decoded to null", null);
        }
        Map<String, String> extensions = null;
        for (Map.Entry<String, String> h : m.headers().entrySet()) {
            String name = h.getKey();
            switch (name) {
                case MessageHeaders.ID, MessageHeaders.TYPE, MessageHeaders.SOURCE, MessageHeaders.TIME,
                     MessageHeaders.SUBJECT, MessageHeaders.DATACONTENTTYPE, MessageHeaders.CORRELATION_ID,
                     MessageHeaders.CAUSATION_ID, MessageHeaders.TRACEPARENT, MessageHeaders.SCHEMA_VERSION,
                     MessageHeaders.SPECVERSION, MessageHeaders.DATASCHEMA -> {
                }
                default -> {
                    if (!name.startsWith("eventbus-")) {
                        if (extensions == null) {
                            extensions = new HashMap<>();
                        }
                        extensions.put(name, h.getValue());
                    }
                }
            }
        }
        return new Envelope<>(id, type, info.version(), m.header(MessageHeaders.SOURCE),
                m.header(MessageHeaders.TIME), m.header(MessageHeaders.SUBJECT),
                m.header(MessageHeaders.DATACONTENTTYPE), m.header(MessageHeaders.CORRELATION_ID),
                m.header(MessageHeaders.CAUSATION_ID), m.header(MessageHeaders.TRACEPARENT), extensions, m.stream(),
                1, event);
    }
}
