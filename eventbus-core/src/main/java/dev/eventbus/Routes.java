package dev.eventbus;

import dev.eventbus.spi.Transport;

import java.util.Map;

/**
 * The bus's routing table: which transport each event class, wire type or stream goes to, with a default. Every
 * publish starts here ({@link #routeOf}), so the lookup is an inline cache of the last two routes in front of a
 * {@code ClassValue}. Thread-safe.
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
    /** The inline cache of {@link #routeOf}: the last two routes looked up. */
    private Route route1;
    private Route route2;

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

    /** The type information of events of class {@code type}. */
    EventTypes.Info infoOf(Class<?> type) {
        return routeOf(type).info;
    }

    /** The route of {@code type} from the {@code ClassValue}, leaving the inline cache alone (failure paths). */
    Route lookup(Class<?> type) {
        return routes.get(type);
    }

    /**
     * The route of {@code type}: a bimorphic inline cache in two plain fields first (most buses publish few event
     * classes, and two reads beat a {@code ClassValue} lookup), then the {@code ClassValue}. Routes are immutable
     * (final fields), so a racy read of either field sees a complete route or null; a stale one fails the type check.
     */
    Route routeOf(Class<?> type) {
        Route r = route1;
        if (r != null && r.type == type) {
            return r;
        }
        r = route2;
        if (r != null && r.type == type) {
            return r;
        }
        return routeMiss(type);
    }

    private Route routeMiss(Class<?> type) {
        Route r = routes.get(type);
        // Most recent first: two classes alternating settle into one slot each and stop writing.
        route2 = route1;
        route1 = r;
        return r;
    }
}
