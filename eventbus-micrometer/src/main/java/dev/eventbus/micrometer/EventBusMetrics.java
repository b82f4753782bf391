package dev.eventbus.micrometer;

import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.EventBusObserver;
import dev.eventbus.Registration;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;

import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;

/**
 * Micrometer meters for one {@link EventBus}: what it published, handled, retried, dead-lettered, skipped, and how
 * full its asynchronous queues are. The module README lists every meter with its tags.
 *
 * <pre>{@code
 * EventBusMetrics.bind(bus, registry);          // or: new EventBusMetrics(bus).bindTo(registry)
 * }</pre>
 *
 * <h2>Cost</h2>
 * Counts are function counters over the bus's own counters ({@link EventBus#stats()}), read when the registry
 * publishes: nothing is added to a publish. Timers ({@value #PUBLISH_DURATION} and {@value #PROCESS_DURATION})
 * are fed by an {@link EventBusObserver}, which the bus calls only off its in-memory fast paths: sends to a
 * transport, and subscriber invocations on deliveries and on in-memory dispatch with interceptors or options. A
 * synchronous in-memory publish without options stays as fast as without metrics; it is counted (in
 * {@value #PUBLISHED}) but not timed. Every tag is bounded: transport, stream, event type, group, outcome, error
 * class; never an event id or key.
 *
 * <h2>Threading and lifecycle</h2>
 * Thread-safe. {@link #bindTo} may be called for several registries. {@link #close()} detaches the observer
 * from the bus (the meters stay registered until removed from the registry); the bus is not closed.
 */
public final class EventBusMetrics implements MeterBinder, AutoCloseable {

    /** Events published (every path, fast paths included). */
    public static final String PUBLISHED = "eventbus.published";
    /** Duration of a publish until the transport accepted it (OTel: messaging.client.operation.duration). */
    public static final String PUBLISH_DURATION = "messaging.client.operation.duration";
    /** Duration of a subscriber invocation, by outcome (OTel: messaging.process.duration). */
    public static final String PROCESS_DURATION = "messaging.process.duration";
    /** Successful subscriber invocations, in memory and on transport deliveries. */
    public static final String DELIVERED = "eventbus.delivered";
    /** Subscriber invocations that threw (each attempt). */
    public static final String FAILURES = "eventbus.handling.failures";
    /** Delayed redeliveries scheduled. */
    public static final String RETRIES = "eventbus.retries";
    /** Events dead-lettered by this bus's consumers. */
    public static final String DEAD_LETTERS = "eventbus.dead.letters";
    /** In-memory events that no subscriber takes. */
    public static final String DEAD_EVENTS = "eventbus.dead.events";
    /**
     * Messages acknowledged without handling ({@code reason}: {@code not-subscribed} or {@code unknown-type}, by type;
     * {@code filtered}, rejected by a subscription's filter).
     */
    public static final String SKIPPED = "eventbus.skipped";
    /** Duplicates an idempotency interceptor (the inbox) recognised on this bus. */
    public static final String DUPLICATES = "eventbus.duplicates";
    /** Publishes that found the async queue full. */
    public static final String OVERFLOWS = "eventbus.dispatch.overflows";
    /** Publishes failed by the overflow policy. */
    public static final String REJECTED = "eventbus.dispatch.rejected";
    /** Events waiting in the async dispatch queues. */
    public static final String QUEUED = "eventbus.dispatch.queued";

    static final String TAG_BUS = "eventbus.service";
    static final String TAG_SYSTEM = "messaging.system";
    static final String TAG_DESTINATION = "messaging.destination.name";
    static final String TAG_OPERATION = "messaging.operation.name";
    static final String TAG_GROUP = "messaging.consumer.group.name";
    static final String TAG_TYPE = "cloudevents.event_type";
    static final String TAG_OUTCOME = "outcome";
    static final String TAG_ERROR = "error.type";
    static final String NONE = "none";

    private final EventBus bus;
    private final Tags tags;
    private final StatsCache stats;
    private final Observer observer = new Observer();
    private final java.util.List<MeterRegistry> registries = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile Registration attached;

    /** Meters for {@code bus}, tagged with its service name. */
    public EventBusMetrics(EventBus bus) {
        this(bus, Tags.empty());
    }

    /** Meters for {@code bus}, tagged with its service name and {@code extraTags}. */
    public EventBusMetrics(EventBus bus, Iterable<Tag> extraTags) {
        this.bus = Objects.requireNonNull(bus, "bus");
        this.tags = Tags.of(TAG_BUS, bus.serviceName()).and(extraTags);
        this.stats = new StatsCache(bus);
    }

    /**
     * Binds {@code bus}'s meters to {@code registry}: the one line an application needs.
     *
     * @return the binder, to {@link #close()} when the bus goes away
     */
    public static EventBusMetrics bind(EventBus bus, MeterRegistry registry) {
        EventBusMetrics m = new EventBusMetrics(bus);
        m.bindTo(registry);
        return m;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        counter(registry, PUBLISHED, "events published", EventBus.Stats::published, Tags.empty());
        counter(registry, DELIVERED, "successful subscriber invocations, in memory and on transport deliveries",
                EventBus.Stats::delivered, Tags.empty());
        counter(registry, FAILURES, "subscriber invocations that threw", EventBus.Stats::failures, Tags.empty());
        counter(registry, RETRIES, "delayed redeliveries scheduled", EventBus.Stats::retries, Tags.empty());
        counter(registry, DEAD_LETTERS, "events dead-lettered", EventBus.Stats::deadLettered, Tags.empty());
        counter(registry, DEAD_EVENTS, "in-memory events no subscriber takes", EventBus.Stats::deadEvents,
                Tags.empty());
        counter(registry, SKIPPED, "messages skipped by type", EventBus.Stats::skipped,
                Tags.of("reason", "not-subscribed"));
        counter(registry, SKIPPED, "messages skipped by type", EventBus.Stats::unknownTypes,
                Tags.of("reason", "unknown-type"));
        counter(registry, SKIPPED, "messages skipped by type", EventBus.Stats::filtered, Tags.of("reason", "filtered"));
        counter(registry, DUPLICATES, "duplicates an inbox recognised", EventBus.Stats::duplicates, Tags.empty());
        counter(registry, OVERFLOWS, "publishes that found the async queue full", EventBus.Stats::overflows,
                Tags.empty());
        counter(registry, REJECTED, "publishes failed by the overflow policy", EventBus.Stats::rejected,
                Tags.empty());
        // Strong references: Micrometer holds a meter's object weakly, and the one-line bind keeps no reference.
        Gauge.builder(QUEUED, stats, s -> s.get().queued()).strongReference(true)
                .description("events waiting in the async dispatch queues").tags(tags).register(registry);
        registries.add(registry);
        observer.publish.clear(); // timers are made per registry: the next record makes them for this one too
        observer.process.clear();
        observer.lastPublish = null;
        observer.lastProcess = null;
        synchronized (this) {
            if (attached == null) {
                attached = bus.observe(observer);
            }
        }
    }

    private void counter(MeterRegistry registry, String name, String description,
                         ToDoubleFunction<EventBus.Stats> f, Tags more) {
        StatsCache cache = stats;
        // The bus is the (weakly held) object: the application keeps it, and the function holds the cache.
        FunctionCounter.builder(name, bus, b -> f.applyAsDouble(cache.get()))
                .description(description).tags(tags).tags(more).register(registry);
    }

    /** Detaches the observer: the timers stop; the function counters keep reading the bus. Idempotent. */
    @Override
    public synchronized void close() {
        if (attached != null) {
            attached.unregister();
            attached = null;
        }
    }

    private static String errorType(Throwable t) {
        if (t instanceof java.util.concurrent.CompletionException && t.getCause() != null) {
            t = t.getCause();
        }
        return t == null ? NONE : t.getClass().getName();
    }

    private record PublishKey(String system, String stream, String type, String error) {
    }

    private record ProcessKey(String system, String stream, String type, String group,
                              EventBusObserver.Handling outcome, String error) {
    }

    /** The timers of the last successful publish's tags, so a run of like events builds and hashes no key. */
    private record PublishHit(String system, String stream, String type, Timer[] timers) {
        boolean matches(String system, String stream, String type) {
            return Objects.equals(this.system, system) && Objects.equals(this.stream, stream)
                    && Objects.equals(this.type, type);
        }
    }

    /** The same for the last acknowledged handling. */
    private record ProcessHit(String system, String stream, String type, String group, Timer[] timers) {
        boolean matches(String system, String stream, String type, String group) {
            return Objects.equals(this.system, system) && Objects.equals(this.stream, stream)
                    && Objects.equals(this.type, type) && Objects.equals(this.group, group);
        }
    }

    /** Feeds the timers; one per tag combination, cached (tags are bounded, so is the cache). */
    private final class Observer implements EventBusObserver {
        private final ConcurrentMap<PublishKey, Timer[]> publish = new ConcurrentHashMap<>();
        private final ConcurrentMap<ProcessKey, Timer[]> process = new ConcurrentHashMap<>();
        // One-entry caches in front of the maps (published and handled run on every event; a key record and a
        // hash lookup each time showed in the profile of the Kafka publish path). Immutable, so a racy read sees
        // a whole entry; an entry from before bindTo is dropped there.
        volatile PublishHit lastPublish;
        volatile ProcessHit lastProcess;

        @Override
        public void published(Envelope<?> envelope, String transport, long nanos, Throwable failure) {
            Timer[] timers;
            PublishHit hit = lastPublish;
            String stream = String.valueOf(envelope.stream());
            if (failure == null && hit != null && hit.matches(transport, stream, envelope.type())) {
                timers = hit.timers;
            } else {
                PublishKey k = new PublishKey(transport, stream, envelope.type(), errorType(failure));
                timers = publish.get(k); // get first: computeIfAbsent costs more on a hit
                if (timers == null) {
                    timers = publish.computeIfAbsent(k, this::publishTimers);
                }
                if (failure == null) {
                    lastPublish = new PublishHit(transport, stream, envelope.type(), timers);
                }
            }
            for (Timer t : timers) {
                t.record(nanos, TimeUnit.NANOSECONDS);
            }
        }

        @Override
        public void handled(Envelope<?> envelope, String transport, String group, String subscriberId,
                            Handling outcome, long nanos, Throwable failure) {
            if (nanos < 0) {
                return; // not measured (an in-memory fast path): counted by the function counters
            }
            String stream = String.valueOf(envelope.stream());
            boolean ack = outcome == Handling.ACK && failure == null;
            ProcessHit hit = lastProcess;
            Timer[] timers;
            if (ack && hit != null && hit.matches(transport, stream, envelope.type(), group)) {
                timers = hit.timers;
            } else {
                ProcessKey k = new ProcessKey(transport, stream, envelope.type(), group, outcome, errorType(failure));
                timers = process.get(k);
                if (timers == null) {
                    timers = process.computeIfAbsent(k, this::processTimers);
                }
                if (ack) {
                    lastProcess = new ProcessHit(transport, stream, envelope.type(), group, timers);
                }
            }
            for (Timer t : timers) {
                t.record(nanos, TimeUnit.NANOSECONDS);
            }
        }

        private Timer[] publishTimers(PublishKey k) {
            return registries.stream().map(r -> Timer.builder(PUBLISH_DURATION)
                    .description("time from publish until the transport accepted the event")
                    .tags(tags)
                    .tag(TAG_SYSTEM, k.system)
                    .tag(TAG_DESTINATION, k.stream)
                    .tag(TAG_OPERATION, "send")
                    .tag(TAG_TYPE, k.type)
                    .tag(TAG_OUTCOME, NONE.equals(k.error) ? "success" : "failure")
                    .tag(TAG_ERROR, k.error)
                    .register(r)).toArray(Timer[]::new);
        }

        private Timer[] processTimers(ProcessKey k) {
            return registries.stream().map(r -> Timer.builder(PROCESS_DURATION)
                    .description("time a subscriber took to handle an event, by what the bus decided next")
                    .tags(tags)
                    .tag(TAG_SYSTEM, k.system)
                    .tag(TAG_DESTINATION, k.stream)
                    .tag(TAG_OPERATION, "process")
                    .tag(TAG_TYPE, k.type)
                    .tag(TAG_GROUP, k.group)
                    .tag(TAG_OUTCOME, k.outcome.name().toLowerCase(Locale.ROOT))
                    .tag(TAG_ERROR, k.error)
                    .register(r)).toArray(Timer[]::new);
        }

        @Override
        public String toString() {
            return "EventBusMetrics.observer(" + bus.serviceName() + ")";
        }
    }

    /**
     * One {@link EventBus#stats()} call serves every meter of a scrape: it sums per-thread counters under a lock,
     * so it is not called a dozen times in a row.
     */
    static final class StatsCache {
        private static final long MAX_AGE_NANOS = TimeUnit.MILLISECONDS.toNanos(20);
        private final EventBus bus;
        private volatile EventBus.Stats last;
        private volatile long at;

        StatsCache(EventBus bus) {
            this.bus = bus;
        }

        EventBus.Stats get() {
            EventBus.Stats s = last;
            long now = System.nanoTime();
            if (s == null || now - at > MAX_AGE_NANOS) {
                s = bus.stats();
                last = s;
                at = now;
            }
            return s;
        }
    }
}
