package dev.eventbus;

import dev.eventbus.internal.DaemonThreadFactory;
import dev.eventbus.internal.KeyedLanes;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Local dispatch beyond the fast path ({@link FastPath}): this bus's own in-memory events, to its subscribers as
 * objects, when a publish has options or the bus has interceptors ({@link #dispatchLocal},
 * {@link #dispatchLocalEnvelope}: a lazily built envelope, the consume interceptors), and with
 * {@link DispatchMode#ASYNC} (bounded per-key lanes, {@link KeyedLanes}, drained by worker threads; an event
 * published with nothing to carry is queued bare and dispatched like the fast path). A subscriber's failure goes to
 * {@link FailureHandling#onLocalFailure}; an event nobody takes is a dead event. Counts go on the calling thread's
 * state. Thread-safe.
 */
final class LocalDispatch {

    /** The transport name of local dispatch, as reported to observers. */
    static final String MEMORY = "memory";

    private final EventBus bus;
    private final SubscriberRegistry registry;
    private final FailureHandling failures;
    private final ConsumeInterceptor[] consumeInterceptors;
    /** Queued items: a {@link LocalTask}, or the bare event when published without options outside a handler. */
    private final KeyedLanes<Object> asyncLanes;
    private final ThreadPoolExecutor asyncExecutor;

    LocalDispatch(EventBus bus, SubscriberRegistry registry, FailureHandling failures, BusSetup setup) {
        this.bus = bus;
        this.registry = registry;
        this.failures = failures;
        this.consumeInterceptors = setup.consumeInterceptors;
        if (setup.dispatchMode == DispatchMode.ASYNC) {
            String service = setup.service;
            int threads = setup.asyncThreads;
            int lanes = Math.max(1, threads * 4);
            // Drain tasks, at most one per lane, are all this executor ever queues: bounded by the lane count.
            this.asyncExecutor = new ThreadPoolExecutor(threads, threads, 60, TimeUnit.SECONDS,
                    new LinkedBlockingQueue<>(), new DaemonThreadFactory("eventbus-" + service + "-dispatch"));
            this.asyncLanes = new KeyedLanes<>("event bus '" + service + "' async dispatch", lanes,
                    Math.max(1, setup.queueCapacity / Integer.highestOneBit(lanes)), asyncExecutor, this::runTask,
                    () -> true, setup.overflow, setup.blockTimeout);
        } else {
            this.asyncExecutor = null;
            this.asyncLanes = null;
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Synchronous, with options or interceptors

    /** Local dispatch with a lazily built envelope: the synchronous path with options and the async worker's. */
    void dispatchLocal(Object event, EventTypes.Info info, PublishOptions options, boolean inherit,
                       Lineage parent, long publishedMillis) {
        Subscriber[] subs = registry.forClass(event.getClass());
        if (subs.length == 0) {
            bus.deadEvent(event);
            return;
        }
        FastPath.ThreadState ts = bus.threadState();
        ts.countDelivered(subs.length);
        DispatchContext ctx = ts.ctx;
        int frame = ctx.pushLazy(bus, event, info, options, inherit, parent, publishedMillis);
        EventBusObserver[] obs = bus.observers;
        try {
            for (Subscriber s : subs) {
                long start = Observers.start(obs);
                if (s.filter != null && !s.acceptsLocal(ctx.envelopeAt(frame, bus, event))) {
                    continue;
                }
                try {
                    RateGate.await(bus, s); // in memory a closing bus handles what it holds
                    if (consumeInterceptors.length == 0) {
                        s.invoke(event, s.wantsEnvelope() ? ctx.envelopeAt(frame, bus, event) : null);
                    } else {
                        ConsumeChain.invoke(consumeInterceptors, s, ctx.envelopeAt(frame, bus, event));
                    }
                    if (obs.length != 0 && !s.isBatch()) { // a batch subscriber's events are reported by their batch
                        Observers.handled(obs, ctx.envelopeAt(frame, bus, event), MEMORY, s,
                                EventBusObserver.Handling.ACK, start, null);
                    }
                } catch (Throwable t) {
                    failures.onLocalFailure(s, ctx.envelopeAt(frame, bus, event), info, t, start);
                }
            }
        } finally {
            ctx.pop();
        }
    }

    /** An envelope the publish path built (interceptors, delay, serialize-in-memory): to the subscribers or the lanes. */
    CompletableFuture<Void> deliverEnvelope(Envelope<?> envelope, Route route) {
        if (asyncLanes != null) {
            LocalTask task = new LocalTask(envelope.event(), route.info, null, null, 0L, envelope);
            return enqueue(task.key(), task);
        }
        dispatchLocalEnvelope(envelope, route.info);
        return EventBus.DONE;
    }

    private void dispatchLocalEnvelope(Envelope<?> envelope, EventTypes.Info info) {
        Subscriber[] subs = registry.forClass(envelope.event().getClass());
        if (subs.length == 0) {
            bus.deadEvent(envelope.event());
            return;
        }
        FastPath.ThreadState ts = bus.threadState();
        ts.countDelivered(subs.length);
        DispatchContext ctx = ts.ctx;
        ctx.push(envelope);
        EventBusObserver[] obs = bus.observers;
        try {
            for (Subscriber s : subs) {
                long start = Observers.start(obs);
                if (s.filter != null && !s.acceptsLocal(envelope)) {
                    continue;
                }
                try {
                    RateGate.await(bus, s);
                    ConsumeChain.invoke(consumeInterceptors, s, envelope);
                    if (!s.isBatch()) { // a batch subscriber's events are reported by their batch
                        Observers.handled(obs, envelope, MEMORY, s, EventBusObserver.Handling.ACK, start, null);
                    }
                } catch (Throwable t) {
                    failures.onLocalFailure(s, envelope, info, t, start);
                }
            }
        } finally {
            ctx.pop();
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Asynchronous

    /** An in-memory publish with async dispatch, no publish interceptors and no delay: onto the lanes. */
    CompletableFuture<Void> publishAsync(Object event, Route route, PublishOptions options) {
        // No clock read here (profiled: 30-45 ns a call on this kind of VM): the envelope's time is
        // taken when a subscriber first needs it, after the queue wait.
        Lineage parent = bus.threadState().ctx.lineage();
        if (parent == null && options == PublishOptions.none()) {
            // Nothing to carry but the event: queue it bare (no task allocated); the worker finds its route.
            return enqueue(event instanceof Event e ? e.eventKey() : null, event);
        }
        LocalTask task = new LocalTask(event, route.info, options, parent, 0L);
        return enqueue(task.key(), task);
    }

    private CompletableFuture<Void> enqueue(Object key, Object item) {
        try {
            asyncLanes.submit(key, item);
            return EventBus.DONE;
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
        Route route = bus.routeOf(event.getClass());
        if (consumeInterceptors.length != 0 || bus.rateLimiter != null) { // the generated dispatcher waits for no rate
            dispatchLocal(event, route.info, PublishOptions.none(), false, null, 0L);
            return;
        }
        Dispatcher d = registry.dispatcherOf(route.type, route.subscribers);
        if (d.count == 0) {
            bus.deadEvent(event);
            return;
        }
        FastPath.ThreadState ts = bus.threadState();
        ts.countDelivered(d.count);
        DispatchContext ctx = ts.ctx;
        int frame = ctx.pushLazy(bus, event, route.info, PublishOptions.none(), false, null, 0L);
        try {
            d.dispatch(event, ctx, frame);
        } finally {
            ctx.pop();
        }
    }

    /** Async publishes that found the queue full. */
    long overflows() {
        return asyncLanes == null ? 0 : asyncLanes.overflowCount();
    }

    /** Async publishes failed by the overflow policy. */
    long rejected() {
        return asyncLanes == null ? 0 : asyncLanes.rejectedCount();
    }

    /** Waits until the async lanes are empty or {@code deadline} (nanoTime) passed; false when events are left. */
    boolean awaitIdle(long deadline) {
        return asyncLanes == null || asyncLanes.awaitIdle(deadline);
    }

    /** Events still queued for async dispatch. */
    long queued() {
        return asyncLanes == null ? 0 : asyncLanes.queued();
    }

    void shutdown() {
        if (asyncExecutor != null) {
            asyncExecutor.shutdownNow();
        }
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
}
