package dev.eventbus;

import dev.eventbus.spi.Transport;

import java.util.Map;

/**
 * The bus's routing table: which transport each event class, wire type or stream goes to, with a default; one
 * {@link Route} per class, computed once ({@link #lookup}; the bus keeps an inline cache of the last two in front,
 * {@link FastPath#routeOf}). Thread-safe.
 */
final class Routes {

    private final EventBus bus;
    private final EventTypes types;
    private final SubscriberRegistry registry;
    private final Map<String, Transport> transports;
    private final String defaultTransport;
    private final Map<Class<?>, String> classRoutes;
    private final Map<String, String> typeRoutes;
    private final Map<String, String> streamRoutes;
    /** Synchronous in-memory dispatch without interceptors: routes to the in-memory transport take the fast path. */
    private final boolean fastLocal;
    private final ClassValue<Route> routes = new ClassValue<>() {
        @Override
        protected Route computeValue(Class<?> type) {
            EventTypes.Info info = types.of(type);
            return routeFor(info, info.stream());
        }
    };

    Routes(EventBus bus, EventTypes types, SubscriberRegistry registry, BusSetup setup) {
        this.bus = bus;
        this.types = types;
        this.registry = registry;
        this.transports = setup.transports;
        this.defaultTransport = setup.defaultTransport;
        this.classRoutes = setup.classRoutes;
        this.typeRoutes = setup.typeRoutes;
        this.streamRoutes = setup.streamRoutes;
        this.fastLocal = setup.fastLocal;
    }

    /** A route for {@code info} on {@code stream} (which may differ from the type's own, by publish options). */
    Route routeFor(EventTypes.Info info, String stream) {
        String name = classRoutes.get(info.type());
        if (name == null) {
            name = typeRoutes.get(info.name());
        }
        if (name == null) {
            name = streamRoutes.get(stream);
        }
        if (name == null) {
            name = defaultTransport;
        }
        Transport t = transports.get(name);
        InMemoryTransport local = t instanceof InMemoryTransport m ? m : null;
        return new Route(bus, info, name, t, local, registry.cacheOf(info.type()), local != null && fastLocal);
    }

    /** The route of {@code type}, computed on first use; {@link FastPath#routeOf} caches the last two in front. */
    Route lookup(Class<?> type) {
        return routes.get(type);
    }
}
