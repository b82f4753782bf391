package dev.eventbus;

/**
 * Optional interface for events that supply their own metadata. Any object can be published; implement this
 * only to give the bus an event's key, id or type from its own fields.
 *
 * <p>Each method may return null for "use the default". Implementations must be side-effect free and cheap:
 * the bus calls them on every publish.
 */
public interface Event {

    /**
     * The key (CloudEvents {@code subject}): events with the same key on one stream are handled in order. Usually
     * the aggregate id ({@code orderId}). Null: no key, unless {@link PublishOptions#key()} gives one.
     */
    default String eventKey() {
        return null;
    }

    /** The event id, for events that carry their own (idempotency keys from upstream). Null: a fresh UUIDv7. */
    default String eventId() {
        return null;
    }

    /**
     * The wire type name, overriding {@link EventType#name()}. Readers must map it to a class with
     * {@link EventBus.Builder#eventType(Class, String)}. Null: the class's type name.
     */
    default String eventType() {
        return null;
    }
}
