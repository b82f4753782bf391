package dev.eventbus;

import dev.eventbus.spi.Transport;

/**
 * Where events of one class go: the transport, and for the in-memory transport what the fast path needs to hand
 * them to subscribers. Built once per class by {@link Routes}; immutable but for the cached dispatcher.
 */
final class Route {
    final EventBus bus;
    final Class<?> type;
    final EventTypes.Info info;
    final String transportName;
    final Transport transport;
    final InMemoryTransport local;
    /** The registry's cache entry for this class, so a publish needs one class lookup, not two. */
    final SubscriberRegistry.Cached subscribers;
    /** Synchronous in-memory with no interceptors: {@link FastPath#publishFast} applies when no options are given. */
    final boolean fast;
    /** The class implements {@link Event}, whose instances may carry their own id. */
    final boolean ownsId;
    /**
     * The registry's dispatcher for this class, cached here to save the fast path a level of indirection;
     * checked against the registry's version before each use. Racy by design: a dispatcher is immutable
     * (final fields), so any thread reading this field sees a complete one, or null.
     */
    Dispatcher dispatcher;

    Route(EventBus bus, EventTypes.Info info, String transportName, Transport transport, InMemoryTransport local,
          SubscriberRegistry.Cached subscribers, boolean fast) {
        this.bus = bus;
        this.type = info.type();
        this.info = info;
        this.transportName = transportName;
        this.transport = transport;
        this.local = local;
        this.subscribers = subscribers;
        this.fast = fast;
        this.ownsId = Event.class.isAssignableFrom(type);
    }
}
