package dev.eventbus;

import dev.eventbus.internal.ConfigSources;
import dev.eventbus.internal.DaemonThreadFactory;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
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
public final class EventBus extends FastPath implements AutoCloseable {

    // The front door. The parts, in the order an event meets them:
    //   FastPath         the synchronous in-memory publish, straight to the subscribers: this class's superclass,
    //                    so its state is in this object (one dependent load less per publish)
    //   Publisher        route (Routes), envelope (Envelopes), publish interceptors, encode, Transport.send
    //   LocalDispatch    the rest of local dispatch: with options or interceptors, and async lanes
    //   Subscriptions    one transport subscription per (transport, group, stream), handled by a GroupDispatcher
    //   GroupDispatcher  a transport's delivery: type check, decode, subscribers of the group, outcome
    //   FailureHandling  the exception handler, the retry ladder and dead letters of local deliveries
    // BusSetup resolves the Builder's settings against the configuration and creates the transports.

    /** The bus's logger: every part logs under this one name, so one logging setting covers the bus. */
    static final Logger log = LoggerFactory.getLogger(EventBus.class);

    /** A completed future shared by every publish that completes at once; it refuses to be altered. */
    static final CompletableFuture<Void> DONE = new DoneFuture();

    private final String service;
    private final Map<String, Transport> transports;
    private final DispatchMode dispatchMode;
    private final Duration closeTimeout;
    final EventTypes types;
    final RetryPolicy retry;
    final UnknownTypePolicy unknownTypes;
    final ConsumeInterceptor[] consumeInterceptors;
    final Envelopes envelopes;
    private final Routes routes;
    final FailureHandling failures;
    private final LocalDispatch local;
    private final Publisher publisher;
    private final Subscriptions subscriptions;
    private final ScheduledThreadPoolExecutor scheduler;
    private final DeadLetters deadLetters;
    /** Consumer rate limits ({@code eventbus.group.<group>.rate}); null when none is set. */
    final dev.eventbus.spi.GroupRateLimiter rateLimiter;
    /**
     * Copy-on-write; read once per publish or delivery by the parts off the fast path (see {@link #observe});
     * {@link FastPath} never reads it.
     */
    volatile EventBusObserver[] observers = Observers.NONE;
    private volatile boolean closed;

    private EventBus(BusSetup setup) {
        super(setup.deadEventHandler);
        this.service = setup.service;
        this.transports = setup.transports;
        this.dispatchMode = setup.dispatchMode;
        this.closeTimeout = setup.closeTimeout;
        this.retry = setup.retry;
        this.unknownTypes = setup.unknownTypes;
        this.consumeInterceptors = setup.consumeInterceptors;
        this.types = new EventTypes(setup.defaultStream);
        setup.typeSerializers.forEach(types::serializer);
        this.envelopes = new Envelopes(setup.source, types, setup.serializer);
        this.routes = new Routes(this, types, registry, setup);
        this.failures = new FailureHandling(this, counters, routes, envelopes, setup);
        this.local = new LocalDispatch(this, registry, failures, setup);
        this.scheduler = new ScheduledThreadPoolExecutor(1, new DaemonThreadFactory("eventbus-" + service + "-scheduler"));
        this.scheduler.setRemoveOnCancelPolicy(true);
        this.publisher = new Publisher(this, routes, envelopes, local, setup, scheduler);
        this.subscriptions = new Subscriptions(this, registry, types, routes, setup);
        this.deadLetters = new DeadLetters(this, transports);
        this.rateLimiter = setup.rateLimiter;
        for (Map.Entry<Class<?>, String> t : setup.eventTypes.entrySet()) {
            types.register(t.getKey(), t.getValue());
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
        return builder().configFrom(ConfigSources.load(System.getenv(), System.getProperties(), BusSetup.providers()))
                .build();
    }

    /** A bus configured from {@code properties} only (no file, system properties or environment). */
    public static EventBus fromConfig(Properties properties) {
        return builder().config(ConfigSources.fromProperties(properties)).build();
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
            return publishFast(event, route);
        }
        return publisher.publish(event, route);
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
        return publisher.publish(event, options);
    }

    private IllegalStateException closedFor(Object event) {
        return new IllegalStateException("EventBus '" + service + "' is closed: cannot publish "
                + event.getClass().getName());
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
        return publisher.publishAll(events);
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
        return publisher.messageFor(event, options);
    }

    /**
     * Reads a message made by {@link #messageFor} (here or on another bus with the same event types) back into the
     * envelope a subscriber would receive, upcasters applied: for event stores that keep messages and read them
     * later. Non-blocking; thread-safe.
     *
     * @throws EventBusException when the type is not registered on this bus, its schema version is newer than the
     *                           class's, or the body does not decode
     */
    public Envelope<?> decode(TransportMessage message) {
        return MessageDecoder.decode(this, Objects.requireNonNull(message, "message"));
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
        return subscriptions.register(subscriber);
    }

    /** Subscribes a lambda to {@code type}'s events in the bus's default group. */
    public <E> Registration subscribe(Class<E> type, EventHandler<? super E> handler) {
        return subscribe(type, service, handler);
    }

    /** Subscribes a lambda to {@code type}'s events in {@code group}. */
    public <E> Registration subscribe(Class<E> type, String group, EventHandler<? super E> handler) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(handler, "handler");
        checkOpen("subscribe");
        return subscriptions.subscribe(type, group, handler);
    }

    /**
     * Subscribes a lambda to the events of {@code type} in {@code group} that pass {@code filter}, which is read
     * before the body is decoded; the others are acknowledged and counted in {@link Stats#filtered()}.
     */
    public <E> Registration subscribe(Class<E> type, String group, Filter filter, EventHandler<? super E> handler) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(filter, "filter");
        Objects.requireNonNull(handler, "handler");
        checkOpen("subscribe");
        return subscriptions.subscribe(type, group, filter, handler);
    }

    /**
     * Subscribes a lambda that takes each event's {@link Envelope} (id, correlation id, headers) to {@code type}'s
     * events in {@code group}: what a {@code @Subscribe} method taking {@code Envelope<E>} gets, for code that
     * learns its event types at run time (process managers, bridges). Blocks until the transports have the
     * subscription.
     *
     * @return a handle that unregisters it
     * @throws IllegalStateException if the bus is closed
     */
    public <E> Registration subscribeEnvelopes(Class<E> type, String group, EnvelopeHandler<E> handler) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(handler, "handler");
        checkOpen("subscribe");
        return subscriptions.subscribeEnvelopes(type, group, handler);
    }

    /**
     * A translation of {@code source} events into what {@code mapping} makes of them, started by
     * {@link Translation#to(String) to(stream)}: see {@link Translation}.
     */
    public <S, T> Translation<S, T> translate(Class<S> source, java.util.function.Function<? super S, ? extends T> mapping) {
        return new Translation<>(this, source, mapping);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Operations

    /** The dead letters of every transport of this bus that can list them. */
    public DeadLetters deadLetters() {
        return deadLetters;
    }

    /**
     * Moves consumer group {@code group} back (or forward) to {@code from} on every stream its subscribers on this
     * bus read, so it handles those events again: after a bug fix, to repair a read model, to feed a new consumer.
     * Blocks until the new positions are durable and the group's running subscriptions here continue from them.
     * What happens to other instances of the group, to messages in flight and to waiting retries depends on the
     * transport: see "Replay" in the core README. Handlers must tolerate seeing an event again (the JDBC inbox).
     *
     * @return what was moved where, one entry per partition
     * @throws IllegalArgumentException    when {@code group} has no subscription on this bus
     * @throws ReplayNotSupportedException when one of the group's transports cannot replay (RabbitMQ, in memory):
     *                                     nothing was moved
     * @throws IllegalStateException       when the bus is closed, or the transport cannot move partitions that
     *                                     other instances of the group hold (Kafka)
     * @throws EventBusException           when the broker or database fails
     */
    public ReplayResult replay(String group, ReplayFrom from) {
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(from, "from");
        checkOpen("replay");
        return Replays.replay(subscriptions, transports, group, from);
    }

    /** Counters since the bus was built. Cheap; safe to poll. */
    public Stats stats() {
        return new Stats(published(), delivered(), counters.failures.sum(),
                counters.retries.sum(), counters.deadLettered.sum(), counters.deadEvents.sum(), counters.skipped.sum(),
                counters.unknownTypes.sum(), counters.duplicates.sum(), local.overflows(), local.rejected(),
                local.queued(), counters.filtered.sum());
    }

    /**
     * Tells {@code observer} about publishes and subscriber outcomes from now on (see {@link EventBusObserver} for
     * which). With no observer the bus reads no clock for them. Thread-safe.
     *
     * @return a handle that detaches the observer
     */
    public Registration observe(EventBusObserver observer) {
        Objects.requireNonNull(observer, "observer");
        synchronized (this) {
            EventBusObserver[] now = observers;
            EventBusObserver[] next = Arrays.copyOf(now, now.length + 1);
            next[now.length] = observer;
            observers = next;
        }
        return () -> {
            synchronized (this) {
                observers = Arrays.stream(observers).filter(o -> o != observer).toArray(EventBusObserver[]::new);
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
        if (rateLimiter != null) {
            rateLimiter.close(); // first: handlers waiting for a permit must not hold the drain below
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        if (!local.awaitIdle(deadline)) {
            log.warn("event bus '{}' closed with {} asynchronous events still queued", service, local.queued());
        }
        subscriptions.closeAll(deadline);
        for (Transport t : transports.values()) {
            closeQuietly(t, remaining(deadline));
        }
        scheduler.shutdownNow();
        local.shutdown();
    }

    @Override
    Route lookupRoute(Class<?> type) {
        return routes.lookup(type);
    }

    /** True once {@link #close()} was called. */
    public boolean isClosed() {
        return closed;
    }

    static Duration remaining(long deadline) {
        return Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
    }

    static void closeQuietly(Object closeable, Duration timeout) {
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
     * @param delivered     subscriber invocations that succeeded, in memory and on transport deliveries (an
     *                      invocation that a consume interceptor chose to skip counts as handled)
     * @param failures      subscriber invocations that threw
     * @param retries       delayed redeliveries scheduled
     * @param deadLettered  events dead-lettered by this bus's consumers
     * @param deadEvents    in-memory events no subscriber took
     * @param skipped       messages skipped by type header: a registered type nobody in the group subscribes to
     * @param unknownTypes  messages of a type no class is registered for
     * @param duplicates    messages an idempotency interceptor (the JDBC inbox) recognised as already handled
     * @param overflows     publishes that found the async queue full (whatever the policy did)
     * @param rejected      publishes failed by the overflow policy
     * @param queued        events waiting in the async dispatch queues now (0 in synchronous mode)
     * @param filtered      events a subscription's {@link Filter} rejected: acknowledged, not handled
     */
    public record Stats(long published, long delivered, long failures, long retries, long deadLettered,
                        long deadEvents, long skipped, long unknownTypes, long duplicates, long overflows,
                        long rejected, long queued, long filtered) {

        /** Stats without the {@code filtered} count (as before filters existed). */
        public Stats(long published, long delivered, long failures, long retries, long deadLettered,
                     long deadEvents, long skipped, long unknownTypes, long duplicates, long overflows,
                     long rejected, long queued) {
            this(published, delivered, failures, retries, deadLettered, deadEvents, skipped, unknownTypes, duplicates,
                    overflows, rejected, queued, 0);
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
        String service;
        final Map<String, Transport> transports = new LinkedHashMap<>();
        String defaultTransport;
        final Map<Class<?>, String> classRoutes = new LinkedHashMap<>();
        final Map<String, String> typeRoutes = new LinkedHashMap<>();
        final Map<String, String> streamRoutes = new LinkedHashMap<>();
        Serializer serializer;
        final Map<Class<?>, Serializer> typeSerializers = new LinkedHashMap<>();
        final List<Upcaster> upcasters = new ArrayList<>();
        RetryPolicy retryPolicy;
        final List<PublishInterceptor> publishInterceptors = new ArrayList<>();
        final List<ConsumeInterceptor> consumeInterceptors = new ArrayList<>();
        SubscriberExceptionHandler exceptionHandler;
        Consumer<Object> deadEventHandler;
        DispatchMode dispatchMode;
        int asyncThreads;
        int queueCapacity;
        OverflowPolicy overflow;
        Duration blockTimeout;
        Boolean serializeInMemory;
        UnknownTypePolicy unknownTypes;
        Boolean jsonFailOnNullComponents;
        Boolean jsonFailOnUnknownProperties;
        Boolean beanValidation;
        String defaultStream;
        int concurrency;
        Boolean orderedByKey;
        Duration closeTimeout;
        final Map<Class<?>, String> eventTypes = new LinkedHashMap<>();
        final Map<String, String> config = new LinkedHashMap<>();
        /** Where keys of {@link #config} came from, for messages; a key set again in code has none. */
        final Map<String, String> origins = new LinkedHashMap<>();

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

        /**
         * The default JSON serializer dead-letters events whose record components or creator properties are null
         * or missing. Default false ({@link EventBusConfig#JSON_FAIL_ON_NULL_COMPONENTS}). Ignored with a custom
         * {@link #serializer(Serializer)}.
         */
        public Builder jsonFailOnNullComponents(boolean on) {
            this.jsonFailOnNullComponents = on;
            return this;
        }

        /**
         * The default JSON serializer dead-letters events with properties their class does not have. Default false
         * ({@link EventBusConfig#JSON_FAIL_ON_UNKNOWN_PROPERTIES}). Ignored with a custom serializer.
         */
        public Builder jsonFailOnUnknownProperties(boolean on) {
            this.jsonFailOnUnknownProperties = on;
            return this;
        }

        /**
         * Checks every decoded event with Jakarta Bean Validation ({@code @NotNull}, {@code @Positive}, ... on the
         * event class) and dead-letters, without retrying, those with violations, naming each as
         * {@code field: message}. Default false ({@link EventBusConfig#VALIDATION}). Works with any serializer.
         * Needs {@code jakarta.validation-api} and a provider (e.g. Hibernate Validator) on the classpath:
         * {@link #build()} fails with a {@link ConfigException} otherwise.
         */
        public Builder beanValidation(boolean on) {
            this.beanValidation = on;
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
                    origins.remove(k);
                }
            });
            return this;
        }

        /** Adds settings loaded from files, system properties and the environment, with where each came from. */
        Builder configFrom(ConfigSources.Loaded loaded) {
            config(loaded.values());
            origins.putAll(loaded.origins());
            return this;
        }

        /**
         * Validates the settings, connects the transports and returns a started bus.
         *
         * @throws ConfigException naming the key and what is allowed, when a setting is invalid or a transport's
         *                         module is missing from the classpath
         */
        public EventBus build() {
            return new EventBus(BusSetup.resolve(this));
        }

        private static String requireText(String s, String what) {
            if (s == null || s.isBlank()) {
                throw new IllegalArgumentException(what + " must not be blank");
            }
            return s;
        }

    }
}
