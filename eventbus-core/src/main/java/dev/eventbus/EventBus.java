package dev.eventbus;

import dev.eventbus.internal.ConfigSources;
import dev.eventbus.internal.DaemonThreadFactory;
import dev.eventbus.internal.HeaderMap;
import dev.eventbus.internal.Invokers;
import dev.eventbus.internal.KeyedLanes;
import dev.eventbus.internal.Timestamps;
import dev.eventbus.internal.Uuid7;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportContext;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportProvider;
import dev.eventbus.spi.TransportSubscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Consumer;

/**
 * Publishes events and delivers them to subscribers, in memory or over a transport chosen by configuration.
 *
 * <pre>{@code
 * EventBus bus = EventBus.builder().service("orders").build();     // in memory
 * bus.register(new Inventory());                                   // its @Subscribe methods
 * bus.publish(new OrderPlaced("o-1", 4200)).join();
 * bus.close();
 * }</pre>
 *
 * <h2>Delivery</h2>
 * Each subscriber belongs to a consumer group (by default the bus's service name): every group gets every event,
 * and instances of a service in one group share them. Events with the same key on one stream are handled in
 * order. A subscriber that throws is retried per the {@link RetryPolicy} (some attempts at once, then delayed
 * redeliveries through the transport), then its event goes to the dead letters ({@link #deadLetters()}), where it
 * can be listed and replayed. A subscriber's exception never reaches the publisher or the other subscribers; it is
 * also reported to the {@link SubscriberExceptionHandler}.
 *
 * <p>On the in-memory transport the bus hands its own events straight to its subscribers as objects:
 * synchronously on the publishing thread ({@link DispatchMode#SYNC}, the default, and the fastest) or through
 * bounded, per-key ordered queues on worker threads ({@link DispatchMode#ASYNC}). An event published in memory
 * that no subscriber takes is a <em>dead event</em>: counted in {@link #stats()} and passed to the dead-event
 * handler.
 *
 * <h2>Thread-safety and lifecycle</h2>
 * All methods are thread-safe. A bus is started when built: its transports are connected and subscriptions made
 * as subscribers register. {@link #close()} must be called: it stops intake, waits for handlers in flight (up to
 * {@code eventbus.close-timeout}), settles their outcomes and closes the transports, which the bus owns.
 *
 * <h2>Exceptions</h2>
 * Programmer errors fail at once: {@link NullPointerException} for a null event, {@link IllegalStateException}
 * after close, {@link IllegalArgumentException} for a subscriber method the bus cannot call.
 * Configuration errors fail {@code build()} with a {@link ConfigException}. A send that fails completes the
 * returned future exceptionally, with an {@link EventBusException} telling by {@link EventBusException#isRetriable()}
 * whether trying again may help.
 */
public final class EventBus implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EventBus.class);
    private static final int STACK_LINES = 12;
    /** The transport name of local dispatch, as reported to observers. */
    private static final String MEMORY = "memory";

    /** A completed future shared by every publish that completes at once; it refuses to be altered. */
    static final CompletableFuture<Void> DONE = new DoneFuture();

    private final String service;
    private final Map<String, Transport> transports;
    private final String defaultTransport;
    private final Map<Class<?>, String> classRoutes;
    private final Map<String, String> typeRoutes;
    private final Map<String, String> streamRoutes;
    final EventTypes types;
    private final SubscriberRegistry registry = new SubscriberRegistry();
    private final Serializer serializer;
    final RetryPolicy retry;
    private final PublishInterceptor[] publishInterceptors;
    private final ConsumeInterceptor[] consumeInterceptors;
    private final SubscriberExceptionHandler exceptionHandler;
    private final Consumer<Object> deadEventHandler;
    private final DispatchMode dispatchMode;
    private final boolean serializeInMemory;
    final UnknownTypePolicy unknownTypes;
    private final int defaultConcurrency;
    private final boolean orderedByKey;
    private final Duration closeTimeout;
    private final boolean fastLocal;
    /** Queued items: a {@link LocalTask}, or the bare event when published without options outside a handler. */
    private final KeyedLanes<Object> asyncLanes;
    private final ThreadPoolExecutor asyncExecutor;
    private final ScheduledThreadPoolExecutor scheduler;
    private final Map<SubscriptionKey, GroupSubscription> subscriptions = new HashMap<>();
    private final AtomicInteger lambdaCount = new AtomicInteger();
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
    /** The thread state of the thread that publishes most here (see {@link #threadState}); racy by design. */
    private ThreadState owner;
    private final ThreadLocal<ThreadState> threadStates = ThreadLocal.withInitial(this::newThreadState);
    /** Every live thread's state, for {@link #stats()}; guarded by itself. */
    private final List<ThreadState> threadStateList = new ArrayList<>();
    /** Size of {@link #threadStateList} at which the next new thread state first retires ended threads. */
    private int retireScanAt = 64;
    private final DeadLetters deadLetters;
    final Counters counters = new Counters();
    /** Copy-on-write; read once per publish or delivery off the fast paths (see {@link #observe}). */
    volatile EventBusObserver[] observers = Observers.NONE;
    private volatile boolean closed;

    private EventBus(Builder b, Map<String, String> config) {
        TransportContext cfg = new TransportContext(b.service != null ? b.service
                : config.getOrDefault(EventBusConfig.SERVICE, "eventbus"), config);
        this.service = cfg.serviceName();
        this.types = new EventTypes(b.defaultStream != null ? b.defaultStream
                : cfg.get(EventBusConfig.DEFAULT_STREAM, "events"));
        b.typeSerializers.forEach(types::serializer);
        this.serializer = b.serializer != null ? b.serializer : new JsonSerializer(JsonSerializer.defaultMapper(), b.upcasters);
        if (b.serializer != null && !b.upcasters.isEmpty()) {
            throw new IllegalStateException("upcasters are applied by the default JsonSerializer; with a custom "
                    + "serializer, apply them inside it (JsonSerializer(mapper, upcasters))");
        }
        this.retry = b.retryPolicy != null ? b.retryPolicy : retryFromConfig(cfg);
        this.publishInterceptors = b.publishInterceptors.toArray(new PublishInterceptor[0]);
        this.consumeInterceptors = b.consumeInterceptors.toArray(new ConsumeInterceptor[0]);
        this.exceptionHandler = b.exceptionHandler != null ? b.exceptionHandler : EventBus::logSubscriberException;
        this.deadEventHandler = b.deadEventHandler;
        this.dispatchMode = b.dispatchMode != null ? b.dispatchMode
                : cfg.getEnum(EventBusConfig.DISPATCH, DispatchMode.class, DispatchMode.SYNC);
        this.serializeInMemory = b.serializeInMemory != null ? b.serializeInMemory
                : cfg.getBoolean(EventBusConfig.MEMORY_SERIALIZE, false);
        this.unknownTypes = b.unknownTypes != null ? b.unknownTypes
                : cfg.getEnum(EventBusConfig.UNKNOWN_TYPES, UnknownTypePolicy.class, UnknownTypePolicy.DEAD_LETTER);
        this.defaultConcurrency = b.concurrency > 0 ? b.concurrency
                : cfg.getInt(EventBusConfig.CONSUMER_CONCURRENCY, 4, 1, 1024);
        this.orderedByKey = b.orderedByKey != null ? b.orderedByKey
                : cfg.getBoolean(EventBusConfig.CONSUMER_ORDERED_BY_KEY, true);
        this.closeTimeout = b.closeTimeout != null ? b.closeTimeout
                : cfg.getDuration(EventBusConfig.CLOSE_TIMEOUT, Duration.ofSeconds(30));
        this.fastLocal = dispatchMode == DispatchMode.SYNC && publishInterceptors.length == 0
                && consumeInterceptors.length == 0 && !serializeInMemory;

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
        try {
            for (String name : needed) {
                if (!ts.containsKey(name)) {
                    String key = name.equals(defaultName) ? EventBusConfig.TRANSPORT : routeKeyNaming(name, streamRoutesCfg, typeRoutesCfg);
                    ts.put(name, createTransport(name, key, cfg));
                }
            }
        } catch (RuntimeException e) {
            ts.values().forEach(t -> closeQuietly(t, Duration.ofSeconds(5)));
            throw e;
        }
        this.transports = ts;
        this.defaultTransport = defaultName;
        this.classRoutes = Map.copyOf(b.classRoutes);
        this.typeRoutes = Map.copyOf(typeRoutesCfg);
        this.streamRoutes = Map.copyOf(streamRoutesCfg);

        this.scheduler = new ScheduledThreadPoolExecutor(1, new DaemonThreadFactory("eventbus-" + service + "-scheduler"));
        this.scheduler.setRemoveOnCancelPolicy(true);
        if (dispatchMode == DispatchMode.ASYNC) {
            int threads = b.asyncThreads > 0 ? b.asyncThreads
                    : cfg.getInt(EventBusConfig.DISPATCH_THREADS, Runtime.getRuntime().availableProcessors(), 1, 4096);
            int capacity = b.queueCapacity > 0 ? b.queueCapacity
                    : cfg.getInt(EventBusConfig.DISPATCH_QUEUE_CAPACITY, 65536, 1, Integer.MAX_VALUE);
            OverflowPolicy overflow = b.overflow != null ? b.overflow
                    : cfg.getEnum(EventBusConfig.DISPATCH_OVERFLOW, OverflowPolicy.class, OverflowPolicy.BLOCK);
            Duration blockTimeout = b.blockTimeout != null ? b.blockTimeout
                    : cfg.getDuration(EventBusConfig.DISPATCH_BLOCK_TIMEOUT, Duration.ofSeconds(30));
            int lanes = Math.max(1, threads * 4);
            // Drain tasks, at most one per lane, are all this executor ever queues: bounded by the lane count.
            this.asyncExecutor = new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS,
                    new LinkedBlockingQueue<>(), new DaemonThreadFactory("eventbus-" + service + "-dispatch"));
            this.asyncLanes = new KeyedLanes<>("event bus '" + service + "' async dispatch", lanes,
                    Math.max(1, capacity / Integer.highestOneBit(lanes)), asyncExecutor, this::runTask, () -> true,
                    overflow, blockTimeout);
        } else {
            this.asyncExecutor = null;
            this.asyncLanes = null;
        }
        this.deadLetters = new DeadLetters(this, transports);
        for (Map.Entry<Class<?>, String> t : b.eventTypes.entrySet()) {
            types.register(t.getKey(), t.getValue());
        }
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
        List<String> found = new ArrayList<>();
        for (TransportProvider p : ServiceLoader.load(TransportProvider.class, EventBus.class.getClassLoader())) {
            found.add(p.name());
            if (p.name().equals(name)) {
                return p.create(cfg);
            }
        }
        if (Thread.currentThread().getContextClassLoader() != null) {
            for (TransportProvider p : ServiceLoader.load(TransportProvider.class)) {
                if (p.name().equals(name)) {
                    return p.create(cfg);
                }
            }
        }
        String artifact = switch (name) {
            case "kafka" -> "dev.eventbus:eventbus-kafka";
            case "rabbitmq" -> "dev.eventbus:eventbus-rabbitmq";
            case "jdbc" -> "dev.eventbus:eventbus-jdbc-outbox";
            default -> null;
        };
        throw new ConfigException(key, name, "one of the transports on the classpath " + new TreeSet<>(found)
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

    // ---------------------------------------------------------------------------------------------------------
    // Construction

    /** A builder with every setting at its default (in memory, synchronous dispatch, JSON, 5 attempts). */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * A bus configured from {@code eventbus.properties} on the classpath, system properties and {@code EVENTBUS_*}
     * environment variables (see {@link EventBusConfig}).
     *
     * @throws ConfigException naming the key when a setting is invalid or a transport's module is missing
     */
    public static EventBus fromConfig() {
        return builder().config(ConfigSources.load(allKnownKeys())).build();
    }

    /** A bus configured from {@code properties} only (no file, system properties or environment). */
    public static EventBus fromConfig(Properties properties) {
        return builder().config(ConfigSources.fromProperties(properties)).build();
    }

    private static Collection<String> allKnownKeys() {
        List<String> keys = new ArrayList<>(ConfigSources.coreKeys());
        for (TransportProvider p : ServiceLoader.load(TransportProvider.class, EventBus.class.getClassLoader())) {
            keys.addAll(p.configKeys());
        }
        return keys;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Publishing

    /**
     * Publishes an event. Returns a future that completes when the transport has accepted the event (in memory,
     * synchronous: after the subscribers ran; asynchronous: once queued; brokers: on their acknowledgement).
     *
     * @throws NullPointerException  if {@code event} is null
     * @throws IllegalStateException if the bus is closed
     */
    public CompletableFuture<Void> publish(Object event) {
        if (event == null) {
            throw new NullPointerException("cannot publish a null event");
        }
        if (closed) {
            throw closedFor(event);
        }
        Route route = routeOf(event.getClass());
        if (route.fast) {
            ThreadState ts = threadState();
            ts.countPublished();
            dispatchFast(event, route, ts.ctx);
            return DONE;
        }
        if (route.local != null) {
            threadState().countPublished(); // in-memory async: counted like the fast path, without a shared write
        } else {
            counters.published.increment();
        }
        return publishRouted(event, PublishOptions.none(), route);
    }

    /**
     * Publishes an event with a key, headers, a delay, another stream or a priority.
     *
     * @throws NullPointerException  if {@code event} or {@code options} is null
     * @throws IllegalStateException if the bus is closed
     */
    public CompletableFuture<Void> publish(Object event, PublishOptions options) {
        if (event == null) {
            throw new NullPointerException("cannot publish a null event");
        }
        Objects.requireNonNull(options, "options");
        if (options == PublishOptions.none()) {
            return publish(event);
        }
        if (closed) {
            throw closedFor(event);
        }
        counters.published.increment();
        return publishRouted(event, options, routeOf(event.getClass()));
    }

    private IllegalStateException closedFor(Object event) {
        return new IllegalStateException("EventBus '" + service + "' is closed: cannot publish "
                + event.getClass().getName());
    }

    /** Every publish but the synchronous in-memory one without options; {@code published} is counted already. */
    private CompletableFuture<Void> publishRouted(Object event, PublishOptions options, Route route) {
        if (options.stream() != null) {
            route = routeFor(route.info, options.stream());
        }
        if (route.local != null) {
            if (fastLocal && options.delay() == null) {
                dispatchLocal(event, route.info, options, true, null, 0L);
                return DONE;
            }
            if (dispatchMode == DispatchMode.ASYNC && publishInterceptors.length == 0 && !serializeInMemory
                    && options.delay() == null) {
                // No clock read here (profiled: 30-45 ns a call on this kind of VM): the envelope's time is
                // taken when a subscriber first needs it, after the queue wait.
                Lineage parent = threadState().ctx.lineage();
                if (parent == null && options == PublishOptions.none()) {
                    // Nothing to carry but the event: queue it bare (no task allocated); the worker finds its route.
                    return enqueue(event instanceof Event e ? e.eventKey() : null, event);
                }
                LocalTask task = new LocalTask(event, route.info, options, parent, 0L);
                return enqueue(task.key(), task);
            }
        }
        try {
            Envelope<?> envelope = newEnvelope(event, route.info, options, DispatchContext.current().lineage(), 0L);
            return intercepted(envelope, route, options, null);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Publishes several events in one go: a transport that can send a batch atomically or in one round trip (a Kafka
     * transaction, one JDBC batch) does so. Completes when every event was accepted; fails if any was not.
     */
    public CompletableFuture<Void> publishAll(Collection<?> events) {
        Objects.requireNonNull(events, "events");
        if (closed) {
            throw new IllegalStateException("EventBus '" + service + "' is closed: cannot publish");
        }
        Map<Transport, List<TransportMessage>> batches = new IdentityHashMap<>();
        List<CompletableFuture<Void>> futures = new ArrayList<>();
        for (Object event : events) {
            if (event == null) {
                throw new NullPointerException("cannot publish a null event (in publishAll)");
            }
            Route route = routeOf(event.getClass());
            if (route.local != null) {
                futures.add(publish(event));
                continue;
            }
            counters.published.increment();
            Envelope<?> envelope = newEnvelope(event, route.info, PublishOptions.none(),
                    DispatchContext.current().lineage(), 0L);
            List<TransportMessage> batch = batches.computeIfAbsent(route.transport, t -> new ArrayList<>());
            futures.add(intercepted(envelope, route, PublishOptions.none(), batch));
        }
        batches.forEach((transport, batch) -> {
            if (!batch.isEmpty()) {
                futures.add(transport.sendBatch(batch));
            }
        });
        return CompletableFuture.allOf(futures.toArray(new CompletableFuture<?>[0]));
    }

    /**
     * The message {@link #publish(Object, PublishOptions)} would send for {@code event}, after the publish
     * interceptors, without sending it: the transactional outbox stores it and relays it later.
     *
     * @throws Serializer.SerializationException when the event cannot be serialized
     */
    public TransportMessage messageFor(Object event, PublishOptions options) {
        Objects.requireNonNull(event, "event");
        Objects.requireNonNull(options, "options");
        Route route = routeOf(event.getClass());
        if (options.stream() != null) {
            route = routeFor(route.info, options.stream());
        }
        Envelope<?> envelope = newEnvelope(event, route.info, options, DispatchContext.current().lineage(), 0L);
        List<TransportMessage> out = new ArrayList<>(1);
        intercepted(envelope, route, options, out).join();
        return out.get(0);
    }

    /** Runs the publish interceptors; the last link sends (or collects into {@code batch} when not null). */
    private CompletableFuture<Void> intercepted(Envelope<?> envelope, Route route, PublishOptions options,
                                                List<TransportMessage> batch) {
        EventBusObserver[] obs = observers;
        if (obs.length != 0 && batch == null) {
            long start = System.nanoTime();
            CompletableFuture<Void> sent;
            try {
                sent = publishInterceptors.length == 0 ? terminal(envelope, route, options, null)
                        : new PublishChain(0, envelope, route, options, null).run();
            } catch (RuntimeException | Error e) {
                Observers.report(obs, envelope, route.transportName, System.nanoTime() - start, e);
                throw e;
            }
            return Observers.published(obs, envelope, route.transportName, start, sent);
        }
        if (publishInterceptors.length == 0) {
            return terminal(envelope, route, options, batch);
        }
        return new PublishChain(0, envelope, route, options, batch).run();
    }

    /** The bus's own last link of the publish chain. */
    private CompletableFuture<Void> terminal(Envelope<?> envelope, Route route, PublishOptions options,
                                             List<TransportMessage> batch) {
        try {
            if (route.local != null && batch == null) {
                return publishLocalEnvelope(envelope, route, options);
            }
            TransportMessage m = encode(envelope, route.info, options);
            if (batch != null) {
                batch.add(m);
                return DONE;
            }
            return route.transport.send(m);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private CompletableFuture<Void> publishLocalEnvelope(Envelope<?> envelope, Route route, PublishOptions options) {
        Envelope<?> env = envelope;
        if (serializeInMemory) {
            // Round trip through the wire format, so an event that would fail on a broker fails here too.
            TransportMessage m = encode(env, route.info, options);
            Object copy = serializerFor(route.info).deserialize(m.body(), route.info.type(), env.type(), route.info.version());
            env = env.withEvent(copy);
        }
        Envelope<?> ready = env;
        if (options.delay() != null && !options.delay().isZero()) {
            scheduler.schedule(() -> deliverLocal(ready, route), options.delay().toMillis(), TimeUnit.MILLISECONDS);
            return DONE;
        }
        return deliverLocal(ready, route);
    }

    private CompletableFuture<Void> deliverLocal(Envelope<?> envelope, Route route) {
        if (dispatchMode == DispatchMode.ASYNC) {
            LocalTask task = new LocalTask(envelope.event(), route.info, null, null, 0L, envelope);
            return enqueue(task.key(), task);
        }
        dispatchLocalEnvelope(envelope, route.info);
        return DONE;
    }

    private CompletableFuture<Void> enqueue(Object key, Object item) {
        try {
            asyncLanes.submit(key, item);
            return DONE;
        } catch (EventBusException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private void runTask(Object item) {
        if (!(item instanceof LocalTask task)) {
            dispatchQueued(item); // LocalTask is private: no user event is one
        } else if (task.envelope != null) {
            dispatchLocalEnvelope(task.envelope, task.info);
        } else {
            dispatchLocal(task.event, task.info, task.options, false, task.parent, task.publishedMillis);
        }
    }

    /**
     * An event queued bare (no options, published outside a handler) on the async worker: its route from the
     * inline cache and its class's dispatcher, like the synchronous fast path, in a frame with no parent.
     */
    private void dispatchQueued(Object event) {
        Route route = routeOf(event.getClass());
        if (consumeInterceptors.length != 0) {
            dispatchLocal(event, route.info, PublishOptions.none(), false, null, 0L);
            return;
        }
        Dispatcher d = registry.dispatcherOf(route.type, route.subscribers);
        if (d.count == 0) {
            deadEvent(event);
            return;
        }
        DispatchContext ctx = threadState().ctx;
        int frame = ctx.pushLazy(this, event, route.info, PublishOptions.none(), false, null, 0L);
        try {
            d.dispatch(event, ctx, frame);
        } finally {
            ctx.pop();
        }
    }

    /**
     * The synchronous in-memory fast path: no interceptors, no options. One class lookup (the route, which holds
     * the registry's cache entry), direct invoker calls, nothing allocated unless a subscriber takes the envelope.
     */
    private void dispatchFast(Object event, Route route, DispatchContext ctx) {
        Dispatcher d = route.dispatcher;
        if (d == null || d.version != registry.version()) {
            d = registry.dispatcherOf(route.type, route.subscribers);
            route.dispatcher = d;
        }
        if (d.count == 0) {
            deadEvent(event);
            return;
        }
        int frame = ctx.pushFast(route, event);
        try {
            d.dispatch(event, ctx, frame);
        } finally {
            ctx.popFast(frame, route);
        }
    }

    /** Local dispatch with a lazily built envelope: the synchronous path with options and the async worker's. */
    private void dispatchLocal(Object event, EventTypes.Info info, PublishOptions options, boolean inherit,
                               Lineage parent, long publishedMillis) {
        Subscriber[] subs = registry.forClass(event.getClass());
        if (subs.length == 0) {
            deadEvent(event);
            return;
        }
        DispatchContext ctx = DispatchContext.current();
        int frame = ctx.pushLazy(this, event, info, options, inherit, parent, publishedMillis);
        EventBusObserver[] obs = observers;
        try {
            for (Subscriber s : subs) {
                long start = Observers.start(obs);
                try {
                    if (consumeInterceptors.length == 0) {
                        s.invoke(event, s.wantsEnvelope() ? ctx.envelopeAt(frame, this, event) : null);
                    } else {
                        new ConsumeChain(this, s, ctx.envelopeAt(frame, this, event)).proceed();
                    }
                    if (obs.length != 0) {
                        Observers.handled(obs, ctx.envelopeAt(frame, this, event), MEMORY, s, EventBusObserver.Handling.ACK, start, null);
                    }
                } catch (Throwable t) {
                    onLocalFailure(s, ctx.envelopeAt(frame, this, event), info, t, start);
                }
            }
        } finally {
            ctx.pop();
        }
    }

    private void dispatchLocalEnvelope(Envelope<?> envelope, EventTypes.Info info) {
        Subscriber[] subs = registry.forClass(envelope.event().getClass());
        if (subs.length == 0) {
            deadEvent(envelope.event());
            return;
        }
        DispatchContext ctx = DispatchContext.current();
        ctx.push(envelope);
        EventBusObserver[] obs = observers;
        try {
            for (Subscriber s : subs) {
                long start = Observers.start(obs);
                try {
                    invoke(s, envelope);
                    Observers.handled(obs, envelope, MEMORY, s, EventBusObserver.Handling.ACK, start, null);
                } catch (Throwable t) {
                    onLocalFailure(s, envelope, info, t, start);
                }
            }
        } finally {
            ctx.pop();
        }
    }

    /** Calls one subscriber through the consume interceptors. */
    void invoke(Subscriber s, Envelope<?> envelope) throws Throwable {
        if (consumeInterceptors.length == 0) {
            s.invoke(envelope.event(), envelope);
        } else {
            new ConsumeChain(this, s, envelope).proceed();
        }
    }

    /**
     * A local subscriber failed on attempt 1: immediate retries here; after them, the event is handed to the
     * in-memory transport as a delayed redelivery for that subscriber's group, where the same path as for any
     * transport takes over (see {@link GroupDispatcher}); or it is dead-lettered.
     */
    void onLocalFailure(Subscriber s, Envelope<?> envelope, EventTypes.Info info, Throwable first) {
        onLocalFailure(s, envelope, info, first, Observers.NOT_TIMED); // the fast path reads no clock
    }

    /** @param start when the first attempt started, for observers ({@link Observers#start}) */
    void onLocalFailure(Subscriber s, Envelope<?> envelope, EventTypes.Info info, Throwable first, long start) {
        Throwable failure = first;
        int attempt = 1;
        String firstFailure = Instant.now().toString();
        while (true) {
            counters.failures.increment();
            boolean retriable = retry.isRetriable(failure);
            boolean more = retriable && attempt < retry.maxAttempts();
            reportFailure(failure, envelope.withAttempt(attempt), s, attempt, more);
            Observers.handled(observers, envelope.withAttempt(attempt), MEMORY, s,
                    more ? EventBusObserver.Handling.RETRY : EventBusObserver.Handling.DEAD, start, failure);
            if (!more) {
                String reason = retriable ? "gave up after " + attempt + " attempt" + (attempt == 1 ? "" : "s")
                        : "fatal " + failure.getClass().getName() + " (not retried)";
                deadLetterLocal(s, envelope, info, failure, attempt, firstFailure, reason);
                return;
            }
            int next = attempt + 1;
            if (retry.isImmediate(next)) {
                attempt = next;
                try {
                    start = Observers.start(observers);
                    invoke(s, envelope.withAttempt(next));
                    Observers.handled(observers, envelope.withAttempt(next), MEMORY, s, EventBusObserver.Handling.ACK,
                            start, null);
                    return;
                } catch (Throwable t) {
                    failure = t;
                    continue;
                }
            }
            Route route = routes.get(envelope.event().getClass());
            InMemoryTransport memory = route.local != null ? route.local : null;
            Map<String, String> h = new LinkedHashMap<>();
            h.put(MessageHeaders.ATTEMPTS, Integer.toString(attempt));
            h.put(MessageHeaders.FIRST_FAILURE, firstFailure);
            h.put(MessageHeaders.PENDING_SUBSCRIBERS, s.id);
            TransportMessage m;
            try {
                m = encode(envelope, info, PublishOptions.none()).withHeaders(h);
            } catch (RuntimeException e) {
                deadLetterLocal(s, envelope, info, failure, attempt, firstFailure,
                        "could not be serialized for a delayed retry: " + e.getMessage());
                return;
            }
            counters.retries.increment();
            memory.redeliver(s.group, m.withStream(envelope.stream() != null ? envelope.stream() : info.stream()),
                    retry.delayBefore(next), 2);
            return;
        }
    }

    private void deadLetterLocal(Subscriber s, Envelope<?> envelope, EventTypes.Info info, Throwable failure,
                                 int attempts, String firstFailure, String reason) {
        counters.deadLettered.increment();
        TransportMessage m;
        try {
            m = encode(envelope, info, PublishOptions.none());
        } catch (RuntimeException e) {
            // Keep what can be kept: the metadata and the reason; the body is lost with the serializer's failure.
            m = TransportMessage.of(envelope.stream(), envelope.subject(), headersOf(envelope, info), new byte[0]);
            reason = reason + "; the event could not be serialized: " + e.getMessage();
        }
        Map<String, String> h = failureHeaders(failure, attempts, firstFailure, reason, "local");
        h.put(MessageHeaders.PENDING_SUBSCRIBERS, s.id);
        Route route = routes.get(envelope.event().getClass());
        route.local.addDeadLetter(s.group, m.withHeaders(h), reason);
        log.warn("event {} ({}) dead-lettered for {} in group '{}': {}", envelope.id(), envelope.type(), s.id,
                s.group, reason);
    }

    void reportFailure(Throwable failure, Envelope<?> envelope, Subscriber s, int attempt, boolean willRetry) {
        try {
            exceptionHandler.handleException(failure, new SubscriberExceptionHandler.Context(this, envelope, s.group,
                    s.id, s.target, s.method, attempt, willRetry));
        } catch (Throwable t) {
            log.error("the SubscriberExceptionHandler itself threw; ignored", t);
        }
    }

    private static void logSubscriberException(Throwable e, SubscriberExceptionHandler.Context c) {
        if (c.willRetry()) {
            log.warn("subscriber {} failed on event {} ({}), attempt {}; will retry: {}", c.subscriberId(),
                    c.envelope().id(), c.envelope().type(), c.attempt(), e.toString());
        } else {
            log.error("subscriber {} failed on event {} ({}), attempt {}; giving up", c.subscriberId(),
                    c.envelope().id(), c.envelope().type(), c.attempt(), e);
        }
    }

    private void deadEvent(Object event) {
        counters.deadEvents.increment();
        if (deadEventHandler != null) {
            try {
                deadEventHandler.accept(event);
            } catch (Throwable t) {
                log.error("the dead-event handler threw; ignored", t);
            }
        } else if (log.isDebugEnabled()) {
            log.debug("no subscriber for {}", event.getClass().getName());
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Envelopes and encoding

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

    Serializer serializerFor(EventTypes.Info info) {
        return info.serializer() != null ? info.serializer() : serializer;
    }

    private TransportMessage encode(Envelope<?> envelope, EventTypes.Info info, PublishOptions options) {
        byte[] body = serializerFor(info).serialize(envelope.event());
        Instant deliverAt = options.delay() == null || options.delay().isZero() ? null : Instant.now().plus(options.delay());
        return new TransportMessage(envelope.stream(), envelope.subject(), headersOf(envelope, info), body, deliverAt,
                options.priority());
    }

    private static Map<String, String> headersOf(Envelope<?> e, EventTypes.Info info) {
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

    /** Headers that tell an operator what failed, where, when and how often. */
    static Map<String, String> failureHeaders(Throwable failure, int attempts, String firstFailure, String reason,
                                              String origin) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.DLQ_REASON, reason);
        if (failure != null) {
            h.put(MessageHeaders.DLQ_EXCEPTION, failure.getClass().getName());
            h.put(MessageHeaders.DLQ_MESSAGE, String.valueOf(failure.getMessage()));
            h.put(MessageHeaders.DLQ_STACK, stackOf(failure));
        }
        h.put(MessageHeaders.ATTEMPTS, Integer.toString(attempts));
        if (firstFailure != null) {
            h.put(MessageHeaders.FIRST_FAILURE, firstFailure);
        }
        h.put(MessageHeaders.DLQ_ORIGIN, origin);
        h.put(MessageHeaders.DLQ_TIME, Instant.now().toString());
        return h;
    }

    private static String stackOf(Throwable t) {
        StringWriter w = new StringWriter();
        t.printStackTrace(new PrintWriter(w));
        String[] lines = w.toString().split("\n");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(STACK_LINES, lines.length); i++) {
            sb.append(lines[i].stripTrailing()).append('\n');
        }
        if (lines.length > STACK_LINES) {
            sb.append("\t... ").append(lines.length - STACK_LINES).append(" more lines");
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Routing

    private Route routeFor(EventTypes.Info info, String stream) {
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
        return new Route(this, info, name, t, local, registry.cacheOf(info.type()), local != null && fastLocal);
    }

    /** The type information of events of class {@code type}. */
    EventTypes.Info infoOf(Class<?> type) {
        return routeOf(type).info;
    }

    /**
     * The route of {@code type}: a bimorphic inline cache in two plain fields first (most buses publish few event
     * classes, and two reads beat a {@code ClassValue} lookup), then the {@code ClassValue}. Routes are immutable
     * (final fields), so a racy read of either field sees a complete route or null; a stale one fails the type check.
     */
    private Route routeOf(Class<?> type) {
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

    /** Where events of one class go. */
    static final class Route {
        final EventBus bus;
        final Class<?> type;
        final EventTypes.Info info;
        final String transportName;
        final Transport transport;
        final InMemoryTransport local;
        /** The registry's cache entry for this class, so a publish needs one class lookup, not two. */
        final SubscriberRegistry.Cached subscribers;
        /** Synchronous in-memory with no interceptors: {@link #dispatchFast} applies when no options are given. */
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

    // ---------------------------------------------------------------------------------------------------------
    // Subscribing

    /**
     * Registers every {@link Subscribe} method of {@code subscriber} (and of its superclasses). Blocks until the
     * transports have the subscriptions.
     *
     * @return a handle that unregisters them
     * @throws IllegalArgumentException naming the class and method when a method cannot be a subscriber, or the
     *                                  object has none
     * @throws IllegalStateException    if the bus is closed
     */
    public Registration register(Object subscriber) {
        Objects.requireNonNull(subscriber, "subscriber");
        checkOpen("register");
        return add(Subscriber.scan(subscriber, this, service, defaultConcurrency));
    }

    /** Subscribes a lambda to {@code type}'s events in the bus's default group. */
    public <E> Registration subscribe(Class<E> type, EventHandler<? super E> handler) {
        return subscribe(type, service, handler);
    }

    /** Subscribes a lambda to {@code type}'s events in {@code group}. */
    @SuppressWarnings("unchecked")
    public <E> Registration subscribe(Class<E> type, String group, EventHandler<? super E> handler) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(handler, "handler");
        checkOpen("subscribe");
        if (type.isPrimitive()) {
            throw new IllegalArgumentException("cannot subscribe to primitive " + type + ": events are objects");
        }
        EventHandler<Object> h = (EventHandler<Object>) handler;
        String id = "lambda:" + group + ":" + type.getName() + "#" + lambdaCount.incrementAndGet();
        return add(List.of(Subscriber.ofLambda(this, id, group, type, defaultConcurrency, h::handle)));
    }

    private Registration add(List<Subscriber> subs) {
        for (Subscriber s : subs) {
            if (EventTypes.isConcrete(s.eventClass)) {
                types.of(s.eventClass);
            }
        }
        registry.addAll(subs);
        try {
            syncSubscriptions();
        } catch (RuntimeException e) {
            registry.removeAll(subs);
            throw e;
        }
        return new Registration() {
            private volatile boolean done;

            @Override
            public void unregister() {
                if (!done) {
                    done = true;
                    registry.removeAll(subs);
                    if (!closed) {
                        syncSubscriptions();
                    }
                }
            }
        };
    }

    /** Makes the transport subscriptions match the registered subscribers: new ones, wider bindings, closed ones. */
    private synchronized void syncSubscriptions() {
        Map<SubscriptionKey, Set<String>> wanted = new LinkedHashMap<>();
        Map<SubscriptionKey, Integer> concurrency = new HashMap<>();
        for (Subscriber s : registry.all()) {
            List<EventTypes.Info> infos = types.concreteSubtypesOf(s.eventClass);
            if (infos.isEmpty()) {
                // An interface or abstract type with no known implementation: listen to the default stream, all types.
                EventTypes.Info any = new EventTypes.Info(s.eventClass, "", 1, types.of(s.eventClass).stream(), null);
                Route r = routeFor(any, any.stream());
                SubscriptionKey k = new SubscriptionKey(r.transportName, s.group, any.stream());
                wanted.computeIfAbsent(k, x -> new TreeSet<>());
                concurrency.merge(k, s.concurrency, Math::max);
                continue;
            }
            for (EventTypes.Info info : infos) {
                Route r = routeFor(info, info.stream());
                SubscriptionKey k = new SubscriptionKey(r.transportName, s.group, info.stream());
                wanted.computeIfAbsent(k, x -> new TreeSet<>()).add(info.name());
                concurrency.merge(k, s.concurrency, Math::max);
            }
        }
        for (Map.Entry<SubscriptionKey, Set<String>> e : wanted.entrySet()) {
            SubscriptionKey k = e.getKey();
            GroupSubscription existing = subscriptions.get(k);
            if (existing == null) {
                GroupDispatcher dispatcher = new GroupDispatcher(this, k.group, k.stream, k.transport);
                SubscriptionRequest req = new SubscriptionRequest(k.group, k.stream, e.getValue(),
                        concurrency.get(k), orderedByKey);
                TransportSubscription sub = transports.get(k.transport).subscribe(req, dispatcher);
                subscriptions.put(k, new GroupSubscription(sub, e.getValue()));
            } else if (!existing.types.containsAll(e.getValue())) {
                Set<String> union = new TreeSet<>(existing.types);
                union.addAll(e.getValue());
                existing.subscription.updateTypes(union);
                existing.types = union;
            }
        }
        for (SubscriptionKey k : new ArrayList<>(subscriptions.keySet())) {
            if (!wanted.containsKey(k)) {
                subscriptions.remove(k).subscription.close(closeTimeout);
            }
        }
    }

    Subscriber[] subscribersOf(Class<?> type, String group) {
        return registry.forClassInGroup(type, group);
    }

    private record SubscriptionKey(String transport, String group, String stream) {
    }

    private static final class GroupSubscription {
        final TransportSubscription subscription;
        volatile Set<String> types;

        GroupSubscription(TransportSubscription subscription, Set<String> types) {
            this.subscription = subscription;
            this.types = types;
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Operations

    /** The dead letters of every transport of this bus that can list them. */
    public DeadLetters deadLetters() {
        return deadLetters;
    }

    /** Counters since the bus was built. Cheap; safe to poll. */
    public Stats stats() {
        long overflows = asyncLanes == null ? 0 : asyncLanes.overflowCount();
        long rejected = asyncLanes == null ? 0 : asyncLanes.rejectedCount();
        long queued = asyncLanes == null ? 0 : asyncLanes.queued();
        long published;
        synchronized (threadStateList) {
            retireDeadThreadStates();
            published = counters.published.sum();
            for (ThreadState ts : threadStateList) {
                published += ts.published();
            }
        }
        return new Stats(published, counters.delivered.sum(), counters.failures.sum(),
                counters.retries.sum(), counters.deadLettered.sum(), counters.deadEvents.sum(), counters.skipped.sum(),
                counters.unknownTypes.sum(), counters.duplicates.sum(), overflows, rejected, queued);
    }

    /**
     * Tells {@code observer} about publishes and subscriber outcomes from now on (see {@link EventBusObserver} for
     * which). With no observer the bus reads no clock for them. Thread-safe.
     *
     * @return a handle that detaches the observer
     */
    public Registration observe(EventBusObserver observer) {
        Objects.requireNonNull(observer, "observer");
        synchronized (subscriptions) {
            EventBusObserver[] now = observers;
            EventBusObserver[] next = java.util.Arrays.copyOf(now, now.length + 1);
            next[now.length] = observer;
            observers = next;
        }
        return () -> {
            synchronized (subscriptions) {
                observers = java.util.Arrays.stream(observers).filter(o -> o != observer)
                        .toArray(EventBusObserver[]::new);
            }
        };
    }

    /** The service name: CloudEvents source and default consumer group. */
    public String serviceName() {
        return service;
    }

    /** The transport registered under {@code name}, e.g. {@code memory} or {@code kafka}. */
    public Transport transport(String name) {
        Transport t = transports.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no transport named '" + name + "' on this bus; it has " + transports.keySet());
        }
        return t;
    }

    /** {@link #close(Duration)} with {@code eventbus.close-timeout} (30 s unless set). */
    @Override
    public void close() {
        close(closeTimeout);
    }

    /**
     * Stops intake (publishing fails from now on), lets queued asynchronous events and handlers in flight finish
     * for up to {@code timeout}, settles their outcomes, then closes every transport and thread of this bus.
     * Blocks for at most about {@code timeout}. Idempotent.
     */
    public void close(Duration timeout) {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        if (asyncLanes != null && !asyncLanes.awaitIdle(deadline)) {
            log.warn("event bus '{}' closed with {} asynchronous events still queued", service, asyncLanes.queued());
        }
        synchronized (this) {
            for (GroupSubscription s : subscriptions.values()) {
                closeQuietly(s.subscription, remaining(deadline));
            }
            subscriptions.clear();
        }
        for (Transport t : transports.values()) {
            closeQuietly(t, remaining(deadline));
        }
        scheduler.shutdownNow();
        if (asyncExecutor != null) {
            asyncExecutor.shutdownNow();
        }
    }

    /** True once {@link #close()} was called. */
    public boolean isClosed() {
        return closed;
    }

    private static Duration remaining(long deadline) {
        return Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
    }

    private static void closeQuietly(Object closeable, Duration timeout) {
        try {
            if (closeable instanceof TransportSubscription s) {
                s.close(timeout);
            } else if (closeable instanceof Transport t) {
                t.close(timeout);
            }
        } catch (RuntimeException e) {
            log.warn("error while closing {}", closeable, e);
        }
    }

    private void checkOpen(String what) {
        if (closed) {
            throw new IllegalStateException("EventBus '" + service + "' is closed: cannot " + what);
        }
    }

    @Override
    public String toString() {
        return "EventBus{service=" + service + ", transports=" + transports.keySet() + ", dispatch="
                + dispatchMode.name().toLowerCase(Locale.ROOT) + (closed ? ", closed" : "") + '}';
    }

    // ---------------------------------------------------------------------------------------------------------
    // Nested types

    /**
     * Counters of a bus since it was built.
     *
     * @param published     events published
     * @param delivered     subscriber invocations that succeeded on a transport delivery (not counted on the
     *                      synchronous in-memory fast path, which stays free of shared writes)
     * @param failures      subscriber invocations that threw
     * @param retries       delayed redeliveries scheduled
     * @param deadLettered  events dead-lettered by this bus's consumers
     * @param deadEvents    in-memory events no subscriber took
     * @param skipped       messages skipped by type header: a registered type nobody in the group subscribes to
     * @param unknownTypes  messages of a type no class is registered for
     * @param duplicates    messages an idempotency interceptor recognised as already handled
     * @param overflows     publishes that found the async queue full (whatever the policy did)
     * @param rejected      publishes failed by the overflow policy
     * @param queued        events waiting in the async dispatch queues now (0 in synchronous mode)
     */
    public record Stats(long published, long delivered, long failures, long retries, long deadLettered,
                        long deadEvents, long skipped, long unknownTypes, long duplicates, long overflows,
                        long rejected, long queued) {
    }

    /** Shared counters; package-private so the dispatchers and interceptors of this package can count. */
    static final class Counters {
        final LongAdder published = new LongAdder();
        final LongAdder delivered = new LongAdder();
        final LongAdder failures = new LongAdder();
        final LongAdder retries = new LongAdder();
        final LongAdder deadLettered = new LongAdder();
        final LongAdder deadEvents = new LongAdder();
        final LongAdder skipped = new LongAdder();
        final LongAdder unknownTypes = new LongAdder();
        final LongAdder duplicates = new LongAdder();
    }

    /**
     * The calling thread's state for this bus: its dispatch context and its own count of fast publishes. The thread
     * that publishes most finds it in one field ({@link #owner}), the others through a ThreadLocal; a thread that
     * misses 1024 times takes the field over, so the field is written rarely even with many publishing threads.
     */
    private ThreadState threadState() {
        ThreadState ts = owner;
        if (ts != null && ts.thread == Thread.currentThread()) {
            return ts;
        }
        return threadStateMiss();
    }

    private ThreadState threadStateMiss() {
        ThreadState ts = threadStates.get();
        if (owner == null || ++ts.misses >= 1024) {
            ts.misses = 0;
            owner = ts;
        }
        return ts;
    }

    private ThreadState newThreadState() {
        ThreadState ts = new ThreadState(Thread.currentThread(), DispatchContext.current());
        synchronized (threadStateList) {
            // Amortized: scan for ended threads only when the list doubled since the last scan, so that many
            // short-lived publishing threads (a virtual thread per task) do not make each new one scan them all.
            if (threadStateList.size() >= retireScanAt) {
                retireDeadThreadStates();
                retireScanAt = Math.max(64, 2 * threadStateList.size());
            }
            threadStateList.add(ts);
        }
        return ts;
    }

    /**
     * Folds the counts of threads that ended into the shared counter and forgets their states, so the list holds
     * live threads only. A thread's end happens-before {@code isAlive()} returning false, so its last count is seen.
     */
    private void retireDeadThreadStates() {
        for (int i = threadStateList.size() - 1; i >= 0; i--) {
            ThreadState ts = threadStateList.get(i);
            if (!ts.thread.isAlive()) {
                counters.published.add(ts.published());
                threadStateList.remove(i);
                if (owner == ts) {
                    owner = null;
                }
            }
        }
    }

    /**
     * One thread's state on one bus. {@code published} has a single writer, the thread, which counts with plain
     * stores: no lock prefix and no compiler barrier on the fast path (an opaque store measured 2-4 ns more per
     * publish), and no increment is lost. {@link #stats()} reads it with an opaque load, so it sees counts as they
     * come; exactly every count once the thread was joined or ended. (Java 17 runs on 64-bit JVMs, where an aligned
     * long store is not split.) Holds no reference to the bus, so a thread does not keep a dropped bus alive.
     */
    private static final class ThreadState {
        private static final java.lang.invoke.VarHandle PUBLISHED;

        static {
            try {
                PUBLISHED = java.lang.invoke.MethodHandles.lookup().findVarHandle(ThreadState.class, "published", long.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        final Thread thread;
        final DispatchContext ctx;
        private long published;
        int misses;

        ThreadState(Thread thread, DispatchContext ctx) {
            this.thread = thread;
            this.ctx = ctx;
        }

        void countPublished() {
            published++;
        }

        long published() {
            return (long) PUBLISHED.getOpaque(this);
        }
    }

    /** Counts a duplicate recognised by an idempotency interceptor (the JDBC inbox). */
    public void countDuplicate() {
        counters.duplicates.increment();
    }

    /** One event waiting in the async queues. */
    private static final class LocalTask {
        final Object event;
        final EventTypes.Info info;
        final PublishOptions options;
        final Lineage parent;
        final long publishedMillis;
        final Envelope<?> envelope;

        LocalTask(Object event, EventTypes.Info info, PublishOptions options, Lineage parent, long publishedMillis) {
            this(event, info, options, parent, publishedMillis, null);
        }

        LocalTask(Object event, EventTypes.Info info, PublishOptions options, Lineage parent, long publishedMillis,
                  Envelope<?> envelope) {
            this.event = event;
            this.info = info;
            this.options = options;
            this.parent = parent;
            this.publishedMillis = publishedMillis;
            this.envelope = envelope;
        }

        Object key() {
            if (envelope != null) {
                return envelope.subject();
            }
            if (options.key() != null) {
                return options.key();
            }
            return event instanceof Event e ? e.eventKey() : null;
        }
    }

    /** The publish chain: interceptors in order, then {@link #terminal}. */
    private final class PublishChain implements PublishInterceptor.Chain {
        private final int index;
        private final Envelope<?> envelope;
        private final Route route;
        private final PublishOptions options;
        private final List<TransportMessage> batch;
        private boolean proceeded;

        PublishChain(int index, Envelope<?> envelope, Route route, PublishOptions options, List<TransportMessage> batch) {
            this.index = index;
            this.envelope = envelope;
            this.route = route;
            this.options = options;
            this.batch = batch;
        }

        CompletableFuture<Void> run() {
            PublishInterceptor interceptor = publishInterceptors[index];
            CompletableFuture<Void> result = interceptor.intercept(this);
            if (result == null) {
                throw new IllegalStateException("publish interceptor " + interceptor + " returned null: it must "
                        + "return the future of chain.proceed(...)");
            }
            if (!proceeded) {
                log.debug("publish interceptor {} did not proceed: event {} was not sent", interceptor, envelope.id());
            }
            return result;
        }

        @Override
        public Envelope<?> envelope() {
            return envelope;
        }

        @Override
        public String transport() {
            return route.transportName;
        }

        @Override
        public CompletableFuture<Void> proceed(Envelope<?> next) {
            Objects.requireNonNull(next, "envelope");
            if (proceeded) {
                throw new IllegalStateException("publish interceptor " + publishInterceptors[index]
                        + " called proceed() twice");
            }
            proceeded = true;
            if (index + 1 < publishInterceptors.length) {
                return new PublishChain(index + 1, next, route, options, batch).run();
            }
            return terminal(next, route, options, batch);
        }
    }

    /** The consume chain for one subscriber invocation: interceptors in order, then the subscriber. */
    static final class ConsumeChain implements ConsumeInterceptor.Chain {
        private final EventBus bus;
        private final Subscriber subscriber;
        private final Envelope<?> envelope;
        private final int index;
        private boolean proceeded;

        ConsumeChain(EventBus bus, Subscriber subscriber, Envelope<?> envelope) {
            this(bus, subscriber, envelope, 0);
        }

        private ConsumeChain(EventBus bus, Subscriber subscriber, Envelope<?> envelope, int index) {
            this.bus = bus;
            this.subscriber = subscriber;
            this.envelope = envelope;
            this.index = index;
        }

        @Override
        public Envelope<?> envelope() {
            return envelope;
        }

        @Override
        public String group() {
            return subscriber.group;
        }

        @Override
        public String subscriberId() {
            return subscriber.id;
        }

        @Override
        public void proceed() throws Exception {
            if (proceeded) {
                throw new IllegalStateException("consume interceptor called proceed() twice for " + subscriber.id);
            }
            proceeded = true;
            if (index < bus.consumeInterceptors.length) {
                bus.consumeInterceptors[index].intercept(new ConsumeChain(bus, subscriber, envelope, index + 1));
                return;
            }
            try {
                subscriber.invoke(envelope.event(), envelope);
            } catch (Exception | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new EventBusException("subscriber " + subscriber.id + " threw " + t, t);
            }
        }
    }

    /** A completed future that cannot be changed: safe to share between publishes. */
    private static final class DoneFuture extends CompletableFuture<Void> {
        DoneFuture() {
            super.complete(null);
        }

        @Override
        public void obtrudeValue(Void value) {
            throw new UnsupportedOperationException("this future is shared and cannot be changed");
        }

        @Override
        public void obtrudeException(Throwable ex) {
            throw new UnsupportedOperationException("this future is shared and cannot be changed");
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Builder

    /**
     * Builds an {@link EventBus}. Settings made here win over configuration ({@link #config}); everything not set
     * takes its documented default at {@link #build()}, which validates the whole and connects the transports.
     * Not thread-safe; build once.
     */
    public static final class Builder {
        private String service;
        private final Map<String, Transport> transports = new LinkedHashMap<>();
        private String defaultTransport;
        private final Map<Class<?>, String> classRoutes = new LinkedHashMap<>();
        private final Map<String, String> typeRoutes = new LinkedHashMap<>();
        private final Map<String, String> streamRoutes = new LinkedHashMap<>();
        private Serializer serializer;
        private final Map<Class<?>, Serializer> typeSerializers = new LinkedHashMap<>();
        private final List<Upcaster> upcasters = new ArrayList<>();
        private RetryPolicy retryPolicy;
        private final List<PublishInterceptor> publishInterceptors = new ArrayList<>();
        private final List<ConsumeInterceptor> consumeInterceptors = new ArrayList<>();
        private SubscriberExceptionHandler exceptionHandler;
        private Consumer<Object> deadEventHandler;
        private DispatchMode dispatchMode;
        private int asyncThreads;
        private int queueCapacity;
        private OverflowPolicy overflow;
        private Duration blockTimeout;
        private Boolean serializeInMemory;
        private UnknownTypePolicy unknownTypes;
        private String defaultStream;
        private int concurrency;
        private Boolean orderedByKey;
        private Duration closeTimeout;
        private final Map<Class<?>, String> eventTypes = new LinkedHashMap<>();
        private final Map<String, String> config = new LinkedHashMap<>();

        private Builder() {
        }

        /** The service name (CloudEvents source, default group). Default: {@code eventbus.service} or "eventbus". */
        public Builder service(String name) {
            this.service = requireText(name, "service");
            return this;
        }

        /** The default transport: every event goes here unless routed elsewhere. Owned by the bus from now on. */
        public Builder transport(Transport transport) {
            Objects.requireNonNull(transport, "transport");
            transports.put(transport.name(), transport);
            this.defaultTransport = transport.name();
            return this;
        }

        /** An additional transport under {@code name}, for {@link #route} and {@link #routeStream}. */
        public Builder transport(String name, Transport transport) {
            transports.put(requireText(name, "name"), Objects.requireNonNull(transport, "transport"));
            return this;
        }

        /** Sends events of {@code eventType} (and only that class) over the transport named {@code transportName}. */
        public Builder route(Class<?> eventType, String transportName) {
            classRoutes.put(Objects.requireNonNull(eventType, "eventType"), requireText(transportName, "transportName"));
            return this;
        }

        /** Sends every event on {@code stream} over the transport named {@code transportName}. */
        public Builder routeStream(String stream, String transportName) {
            streamRoutes.put(requireText(stream, "stream"), requireText(transportName, "transportName"));
            return this;
        }

        /** Sends events whose wire type is {@code typeName} over the transport named {@code transportName}. */
        public Builder routeType(String typeName, String transportName) {
            typeRoutes.put(requireText(typeName, "typeName"), requireText(transportName, "transportName"));
            return this;
        }

        /** The serializer for every type without its own. Default: {@link JsonSerializer}. */
        public Builder serializer(Serializer serializer) {
            this.serializer = Objects.requireNonNull(serializer, "serializer");
            return this;
        }

        /** A serializer for one event type. */
        public Builder serializer(Class<?> eventType, Serializer serializer) {
            typeSerializers.put(Objects.requireNonNull(eventType, "eventType"), Objects.requireNonNull(serializer, "serializer"));
            return this;
        }

        /** Adds an upcaster to the default JSON serializer. */
        public Builder upcaster(Upcaster upcaster) {
            upcasters.add(Objects.requireNonNull(upcaster, "upcaster"));
            return this;
        }

        public Builder retryPolicy(RetryPolicy policy) {
            this.retryPolicy = Objects.requireNonNull(policy, "policy");
            return this;
        }

        /** Adds a publish interceptor; they run in the order added. */
        public Builder publishInterceptor(PublishInterceptor interceptor) {
            publishInterceptors.add(Objects.requireNonNull(interceptor, "interceptor"));
            return this;
        }

        /** Adds a consume interceptor; they run in the order added. */
        public Builder consumeInterceptor(ConsumeInterceptor interceptor) {
            consumeInterceptors.add(Objects.requireNonNull(interceptor, "interceptor"));
            return this;
        }

        /** Told about every subscriber failure. Default: logs at WARN (will retry) or ERROR (gave up). */
        public Builder subscriberExceptionHandler(SubscriberExceptionHandler handler) {
            this.exceptionHandler = Objects.requireNonNull(handler, "handler");
            return this;
        }

        /** Receives in-memory events that no subscriber takes. Default: counted and logged at DEBUG. */
        public Builder onDeadEvent(Consumer<Object> handler) {
            this.deadEventHandler = Objects.requireNonNull(handler, "handler");
            return this;
        }

        public Builder dispatch(DispatchMode mode) {
            this.dispatchMode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /**
         * Asynchronous dispatch on {@code threads} workers with at most {@code queueCapacity} events queued, and
         * {@code overflow} (waiting up to {@code blockTimeout} for {@link OverflowPolicy#BLOCK}) when full.
         */
        public Builder asyncDispatch(int threads, int queueCapacity, OverflowPolicy overflow, Duration blockTimeout) {
            if (threads < 1 || queueCapacity < 1) {
                throw new IllegalArgumentException("threads and queueCapacity must be >= 1");
            }
            this.dispatchMode = DispatchMode.ASYNC;
            this.asyncThreads = threads;
            this.queueCapacity = queueCapacity;
            this.overflow = Objects.requireNonNull(overflow, "overflow");
            this.blockTimeout = Objects.requireNonNull(blockTimeout, "blockTimeout");
            return this;
        }

        /** Pass in-memory events through the serializer, so tests catch events that would not survive a broker. */
        public Builder serializeInMemory(boolean on) {
            this.serializeInMemory = on;
            return this;
        }

        public Builder unknownTypes(UnknownTypePolicy policy) {
            this.unknownTypes = Objects.requireNonNull(policy, "policy");
            return this;
        }

        /** The stream of event types without {@code @EventType(stream)}. Default "events". */
        public Builder defaultStream(String stream) {
            this.defaultStream = requireText(stream, "stream");
            return this;
        }

        /** Default concurrency of each group's subscription. Default 4. */
        public Builder concurrency(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("concurrency must be >= 1, was " + n);
            }
            this.concurrency = n;
            return this;
        }

        /**
         * Whether subscriptions ask their transports for per-key order (default true). Without it a transport may
         * spread one key's events over competing consumers (on RabbitMQ: one queue per group instead of shards).
         */
        public Builder orderedByKey(boolean on) {
            this.orderedByKey = on;
            return this;
        }

        public Builder closeTimeout(Duration timeout) {
            this.closeTimeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /** Registers an event type so this bus can decode it even with no subscriber of its exact class. */
        public Builder eventType(Class<?> type) {
            eventTypes.put(Objects.requireNonNull(type, "type"), null);
            return this;
        }

        /** Registers {@code type} under the wire name {@code name}. */
        public Builder eventType(Class<?> type, String name) {
            eventTypes.put(Objects.requireNonNull(type, "type"), requireText(name, "name"));
            return this;
        }

        /** Adds {@code eventbus.*} settings (later calls override earlier ones; code settings win over all). */
        public Builder config(Properties properties) {
            return config(ConfigSources.fromProperties(properties));
        }

        /** Adds {@code eventbus.*} settings from a map. */
        public Builder config(Map<String, String> settings) {
            settings.forEach((k, v) -> {
                if (k.startsWith("eventbus.")) {
                    config.put(k, v);
                }
            });
            return this;
        }

        /**
         * Validates the settings, connects the transports and returns a started bus.
         *
         * @throws ConfigException naming the key and what is allowed, when a setting is invalid or a transport's
         *                         module is missing from the classpath
         */
        public EventBus build() {
            validateKeys(config);
            return new EventBus(this, Map.copyOf(config));
        }

        private static String requireText(String s, String what) {
            if (s == null || s.isBlank()) {
                throw new IllegalArgumentException(what + " must not be blank");
            }
            return s;
        }

        /** Unknown keys under the bus's own namespaces are typos: fail on them instead of ignoring them. */
        private static void validateKeys(Map<String, String> config) {
            Set<String> known = EventBusConfig.documentation().keySet();
            Set<String> ownedRoots = new TreeSet<>();
            for (String k : known) {
                String rest = k.substring("eventbus.".length());
                int dot = rest.indexOf('.');
                ownedRoots.add(dot < 0 ? rest : rest.substring(0, dot));
            }
            for (String key : config.keySet()) {
                if (known.contains(key) || key.startsWith(EventBusConfig.ROUTE_STREAM_PREFIX)
                        || key.startsWith(EventBusConfig.ROUTE_TYPE_PREFIX)) {
                    continue;
                }
                String rest = key.substring("eventbus.".length());
                int dot = rest.indexOf('.');
                String root = dot < 0 ? rest : rest.substring(0, dot);
                if (ownedRoots.contains(root) || dot < 0) {
                    throw new ConfigException(key, config.get(key), "a known key; this one is not one of "
                            + new TreeSet<>(known) + " (transport settings go under eventbus.<transport>.*)");
                }
            }
        }
    }
}
