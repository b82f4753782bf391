package dev.eventbus;

import dev.eventbus.internal.ConfigKeys;
import dev.eventbus.internal.RateLimits;
import dev.eventbus.spi.GroupRateLimiter;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportContext;
import dev.eventbus.spi.TransportProvider;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * What {@link EventBus.Builder#build()} does before the bus exists: every setting resolved (the builder's, else the
 * configuration's, else the documented default), validated, and the transports created. A failure here closes
 * the transports already created and throws a {@link ConfigException} naming the key. Immutable once built.
 */
final class BusSetup {

    final String service;
    /** CloudEvents {@code source} written on every published event. */
    final String source;
    final String defaultStream;
    final Serializer serializer;
    final Map<Class<?>, Serializer> typeSerializers;
    final Map<Class<?>, String> eventTypes;
    final RetryPolicy retry;
    final PublishInterceptor[] publishInterceptors;
    final ConsumeInterceptor[] consumeInterceptors;
    final SubscriberExceptionHandler exceptionHandler;
    final Consumer<Object> deadEventHandler;
    final DispatchMode dispatchMode;
    final boolean serializeInMemory;
    final UnknownTypePolicy unknownTypes;
    final int concurrency;
    final boolean orderedByKey;
    final Duration closeTimeout;
    /** Synchronous in-memory dispatch with no interceptors and no serialization: the fast path applies. */
    final boolean fastLocal;
    final int asyncThreads;
    final int queueCapacity;
    final OverflowPolicy overflow;
    final Duration blockTimeout;
    final Map<String, Transport> transports;
    final String defaultTransport;
    final Map<Class<?>, String> classRoutes;
    final Map<String, String> typeRoutes;
    final Map<String, String> streamRoutes;
    /** Null when no group has a rate limit; owned by the bus once built. */
    final GroupRateLimiter rateLimiter;
    /** {@code eventbus.group.<group>.batch.max-size} and {@code .batch.max-wait}, validated, by group. */
    final Map<String, Integer> groupBatchSizes;
    final Map<String, Duration> groupBatchWaits;

    private BusSetup(EventBus.Builder b, Map<String, String> config) {
        TransportContext cfg = new TransportContext(b.service != null ? b.service
                : config.getOrDefault(EventBusConfig.SERVICE, "eventbus"), config);
        this.service = cfg.serviceName();
        this.source = EventSource.resolve(cfg.get(EventBusConfig.SOURCE), service);
        this.defaultStream = b.defaultStream != null ? b.defaultStream
                : cfg.get(EventBusConfig.DEFAULT_STREAM, "events");
        this.eventTypes = new LinkedHashMap<>(b.eventTypes);
        boolean failOnNulls = b.jsonFailOnNullComponents != null ? b.jsonFailOnNullComponents
                : cfg.getBoolean(EventBusConfig.JSON_FAIL_ON_NULL_COMPONENTS, false);
        boolean failOnUnknown = b.jsonFailOnUnknownProperties != null ? b.jsonFailOnUnknownProperties
                : cfg.getBoolean(EventBusConfig.JSON_FAIL_ON_UNKNOWN_PROPERTIES, false);
        Serializer base = b.serializer != null ? b.serializer
                : new JsonSerializer(JsonSerializer.defaultMapper(failOnNulls, failOnUnknown), b.upcasters);
        if (b.serializer != null && !b.upcasters.isEmpty()) {
            throw new IllegalStateException("upcasters are applied by the default JsonSerializer; with a custom "
                    + "serializer, apply them inside it (JsonSerializer(mapper, upcasters))");
        }
        // Validation wraps deserialization, so a violation takes the path of any undecodable body: dead letter.
        String validation = b.beanValidation != null ? (b.beanValidation ? "bean" : "none")
                : cfg.get(EventBusConfig.VALIDATION, "none").trim().toLowerCase(java.util.Locale.ROOT);
        switch (validation) {
            case "none" -> {
                this.serializer = base;
                this.typeSerializers = Map.copyOf(b.typeSerializers);
            }
            case "bean" -> {
                BeanValidation v = BeanValidation.create();
                this.serializer = v.wrap(base);
                Map<Class<?>, Serializer> wrapped = new LinkedHashMap<>();
                b.typeSerializers.forEach((t, s) -> wrapped.put(t, v.wrap(s)));
                this.typeSerializers = Map.copyOf(wrapped);
            }
            default -> throw new ConfigException(EventBusConfig.VALIDATION, validation, "none or bean");
        }
        this.retry = b.retryPolicy != null ? b.retryPolicy : retryFromConfig(cfg);
        this.publishInterceptors = b.publishInterceptors.toArray(new PublishInterceptor[0]);
        this.consumeInterceptors = b.consumeInterceptors.toArray(new ConsumeInterceptor[0]);
        this.exceptionHandler = b.exceptionHandler;
        this.deadEventHandler = b.deadEventHandler;
        this.dispatchMode = b.dispatchMode != null ? b.dispatchMode
                : cfg.getEnum(EventBusConfig.DISPATCH, DispatchMode.class, DispatchMode.SYNC);
        this.serializeInMemory = b.serializeInMemory != null ? b.serializeInMemory
                : cfg.getBoolean(EventBusConfig.MEMORY_SERIALIZE, false);
        this.unknownTypes = b.unknownTypes != null ? b.unknownTypes
                : cfg.getEnum(EventBusConfig.UNKNOWN_TYPES, UnknownTypePolicy.class, UnknownTypePolicy.DEAD_LETTER);
        this.concurrency = b.concurrency > 0 ? b.concurrency
                : cfg.getInt(EventBusConfig.CONSUMER_CONCURRENCY, 4, 1, 1024);
        this.orderedByKey = b.orderedByKey != null ? b.orderedByKey
                : cfg.getBoolean(EventBusConfig.CONSUMER_ORDERED_BY_KEY, true);
        this.closeTimeout = b.closeTimeout != null ? b.closeTimeout
                : cfg.getDuration(EventBusConfig.CLOSE_TIMEOUT, Duration.ofSeconds(30));
        // A rate limit waits before each handling (ConsumeChain), which the fast path does not pass through.
        this.fastLocal = dispatchMode == DispatchMode.SYNC && publishInterceptors.length == 0
                && consumeInterceptors.length == 0 && !serializeInMemory && RateLimits.parse(config).isEmpty();
        if (dispatchMode == DispatchMode.ASYNC) {
            this.asyncThreads = b.asyncThreads > 0 ? b.asyncThreads
                    : cfg.getInt(EventBusConfig.DISPATCH_THREADS, Runtime.getRuntime().availableProcessors(), 1, 4096);
            this.queueCapacity = b.queueCapacity > 0 ? b.queueCapacity
                    : cfg.getInt(EventBusConfig.DISPATCH_QUEUE_CAPACITY, 65536, 1, Integer.MAX_VALUE);
            this.overflow = b.overflow != null ? b.overflow
                    : cfg.getEnum(EventBusConfig.DISPATCH_OVERFLOW, OverflowPolicy.class, OverflowPolicy.BLOCK);
            this.blockTimeout = b.blockTimeout != null ? b.blockTimeout
                    : cfg.getDuration(EventBusConfig.DISPATCH_BLOCK_TIMEOUT, Duration.ofSeconds(30));
        } else {
            this.asyncThreads = 0;
            this.queueCapacity = 0;
            this.overflow = null;
            this.blockTimeout = null;
        }

        // Transports: those given in code, then the default and every routed one from configuration.
        Map<String, Transport> ts = new LinkedHashMap<>(b.transports);
        String defaultName = b.defaultTransport != null ? b.defaultTransport : cfg.get(EventBusConfig.TRANSPORT, "memory");
        Map<String, String> streamRoutesCfg = new LinkedHashMap<>(cfg.withPrefix(EventBusConfig.ROUTE_STREAM_PREFIX));
        Map<String, String> typeRoutesCfg = new LinkedHashMap<>(cfg.withPrefix(EventBusConfig.ROUTE_TYPE_PREFIX));
        streamRoutesCfg.putAll(b.streamRoutes);
        typeRoutesCfg.putAll(b.typeRoutes);
        Set<String> needed = new LinkedHashSet<>();
        needed.add(defaultName);
        needed.addAll(streamRoutesCfg.values());
        needed.addAll(typeRoutesCfg.values());
        needed.addAll(b.classRoutes.values());
        GroupRateLimiter limiter;
        try {
            for (String name : needed) {
                if (!ts.containsKey(name)) {
                    String key = name.equals(defaultName) ? EventBusConfig.TRANSPORT : routeKeyNaming(name, streamRoutesCfg, typeRoutesCfg);
                    ts.put(name, createTransport(name, key, cfg));
                }
            }
            limiter = RateLimits.create(cfg);
        } catch (RuntimeException e) {
            ts.values().forEach(t -> EventBus.closeQuietly(t, Duration.ofSeconds(5)));
            throw e;
        }
        this.transports = ts;
        this.rateLimiter = limiter;
        Map<String, Integer> sizes = new LinkedHashMap<>();
        Map<String, Duration> waits = new LinkedHashMap<>();
        for (String rest : cfg.withPrefix(EventBusConfig.GROUP_PREFIX).keySet()) {
            String key = EventBusConfig.GROUP_PREFIX + rest;
            String group = ConfigKeys.groupOf(key);
            if (key.endsWith("." + EventBusConfig.GROUP_BATCH_MAX_SIZE)) {
                sizes.put(group, cfg.getInt(key, 100, 1, Subscriber.MAX_BATCH_SIZE));
            } else if (key.endsWith("." + EventBusConfig.GROUP_BATCH_MAX_WAIT)) {
                Duration d = cfg.getDuration(key, null);
                if (d.isNegative() || d.compareTo(Subscriber.MAX_BATCH_WAIT) > 0) {
                    throw new ConfigException(key, cfg.get(key), "a duration from 0ms to 1h such as 200ms, 2s or PT0.5S");
                }
                waits.put(group, d);
            }
        }
        this.groupBatchSizes = Map.copyOf(sizes);
        this.groupBatchWaits = Map.copyOf(waits);
        this.defaultTransport = defaultName;
        this.classRoutes = Map.copyOf(b.classRoutes);
        this.typeRoutes = Map.copyOf(typeRoutesCfg);
        this.streamRoutes = Map.copyOf(streamRoutesCfg);
    }

    /**
     * Validates the builder's settings and configuration and creates the transports. A value error about a key that
     * came from a file, a system property or an environment variable says so, naming the variable as it was written.
     */
    static BusSetup resolve(EventBus.Builder b) {
        ConfigKeys.check(b.config, b.origins, providers());
        try {
            return new BusSetup(b, Map.copyOf(b.config));
        } catch (ConfigException e) {
            String origin = e.key() == null ? null : b.origins.get(e.key());
            if (origin == null) {
                throw e;
            }
            throw new ConfigException(e.key(), e.getMessage() + " (set by " + origin + ")", e);
        }
    }

    /** The transport providers on the classpath: core's class loader first, then the thread's context loader. */
    static List<TransportProvider> providers() {
        List<TransportProvider> out = new ArrayList<>();
        Set<String> names = new java.util.HashSet<>();
        for (TransportProvider p : ServiceLoader.load(TransportProvider.class, EventBus.class.getClassLoader())) {
            if (names.add(p.name())) {
                out.add(p);
            }
        }
        if (Thread.currentThread().getContextClassLoader() != null) {
            for (TransportProvider p : ServiceLoader.load(TransportProvider.class)) {
                if (names.add(p.name())) {
                    out.add(p);
                }
            }
        }
        return out;
    }

    private static String routeKeyNaming(String name, Map<String, String> streams, Map<String, String> typesCfg) {
        for (Map.Entry<String, String> e : streams.entrySet()) {
            if (e.getValue().equals(name)) {
                return EventBusConfig.ROUTE_STREAM_PREFIX + e.getKey();
            }
        }
        for (Map.Entry<String, String> e : typesCfg.entrySet()) {
            if (e.getValue().equals(name)) {
                return EventBusConfig.ROUTE_TYPE_PREFIX + e.getKey();
            }
        }
        return EventBusConfig.TRANSPORT;
    }

    private static Transport createTransport(String name, String key, TransportContext cfg) {
        List<TransportProvider> providers = providers();
        for (TransportProvider p : providers) {
            if (p.name().equals(name)) {
                return p.create(cfg);
            }
        }
        Set<String> found = new TreeSet<>();
        providers.forEach(p -> found.add(p.name()));
        String artifact = ConfigKeys.artifactOf(name);
        throw new ConfigException(key, name, "one of the transports on the classpath " + found
                + (artifact == null ? "" : "; to use '" + name + "', add the Maven artifact " + artifact));
    }

    private static RetryPolicy retryFromConfig(TransportContext cfg) {
        RetryPolicy.Builder r = RetryPolicy.builder()
                .maxAttempts(cfg.getInt(EventBusConfig.RETRY_MAX_ATTEMPTS, 5, 1, 1000))
                .immediateRetries(cfg.getInt(EventBusConfig.RETRY_IMMEDIATE, 2, 0, 1000))
                .initialDelay(cfg.getDuration(EventBusConfig.RETRY_INITIAL_DELAY, Duration.ofSeconds(1)))
                .maxDelay(cfg.getDuration(EventBusConfig.RETRY_MAX_DELAY, Duration.ofMinutes(5)));
        String m = cfg.get(EventBusConfig.RETRY_MULTIPLIER);
        if (m != null) {
            try {
                r.multiplier(Double.parseDouble(m));
            } catch (IllegalArgumentException e) {
                throw new ConfigException(EventBusConfig.RETRY_MULTIPLIER, m, "a number >= 1.0");
            }
        }
        String j = cfg.get(EventBusConfig.RETRY_JITTER);
        if (j != null) {
            try {
                r.jitter(Double.parseDouble(j));
            } catch (IllegalArgumentException e) {
                throw new ConfigException(EventBusConfig.RETRY_JITTER, j, "a number from 0 to 1");
            }
        }
        try {
            return r.build();
        } catch (IllegalArgumentException e) {
            throw new ConfigException(EventBusConfig.RETRY_MAX_DELAY, cfg.get(EventBusConfig.RETRY_MAX_DELAY),
                    "a delay no shorter than " + EventBusConfig.RETRY_INITIAL_DELAY);
        }
    }

}
