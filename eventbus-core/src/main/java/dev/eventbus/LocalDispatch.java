package dev.eventbus;

import dev.eventbus.internal.DaemonThreadFactory;
import dev.eventbus.internal.KeyedLanes;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The in-memory fast path: hands this bus's own events, published to the in-memory transport, straight to its
 * subscribers as objects, with no envelope, copy or serialization unless a subscriber asks for one.
 *
 * <ul>
 *   <li>{@link DispatchMode#SYNC} without options or interceptors ({@link #publishFast}): the route from the
 *       inline cache ({@link Routes#routeOf}), the class's generated {@link Dispatcher} (one call site per
 *       subscriber), a frame in the thread's {@link DispatchContext} that is a depth counter, and a count in the
 *       thread's own {@link ThreadState}: nothing allocated, no shared write.</li>
 *   <li>SYNC with options or interceptors ({@link #dispatchLocal}, {@link #dispatchLocalEnvelope}): the same
 *       subscribers with a lazily built envelope and the consume interceptors.</li>
 *   <li>{@link DispatchMode#ASYNC}: bounded per-key lanes ({@link KeyedLanes}) drained by worker threads; an event
 *       published with nothing to carry is queued bare.</li>
 * </ul>
 * A subscriber's failure goes to {@link FailureHandling#onLocalFailure}; an event nobody takes is a dead event.
 * Thread-safe; the per-thread parts are confined to their threads.
 */
final class LocalDispatch {

    private final EventBus bus;
    private final SubscriberRegistry registry;
    private final Routes routes;
    private final FailureHandling failures;
    private final ConsumeInterceptor[] consumeInterceptors;
    private final Counters counters;
    private final Consumer<Object> deadEventHandler;
    /** Queued items: a {@link LocalTask}, or the bare event when published without options outside a handler. */
    private final KeyedLanes<Object> asyncLanes;
    private final ThreadPoolExecutor asyncExecutor;
    /** The thread state of the thread that publishes most here (see {@link #threadState}); racy by design. */
    private ThreadState owner;
    private final ThreadLocal<ThreadState> threadStates = ThreadLocal.withInitial(this::newThreadState);
    /** Every live thread's state, for {@link EventBus#stats()}; guarded by itself. */
    private final List<ThreadState> threadStateList = new ArrayList<>();
    /** Size of {@link #threadStateList} at which the next new thread state first retires ended threads. */
    private int retireScanAt = 64;

    LocalDispatch(EventBus bus, SubscriberRegistry registry, Routes routes, FailureHandling failures,
                  Counters counters, BusSetup setup) {
        this.bus = bus;
        this.registry = registry;
        this.routes = routes;
        this.failures = failures;
        this.consumeInterceptors = setup.consumeInterceptors;
        this.counters = counters;
        this.deadEventHandler = setup.deadEventHandler;
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
    // Synchronous

    /**
     * The synchronous in-memory fast path: no interceptors, no options. One class lookup (the route, which holds
     * the registry's cache entry), direct invoker calls, nothing allocated unless a subscriber takes the envelope.
     */
    CompletableFuture<Void> publishFast(Object event, Route route) {
        ThreadState ts = threadState();
        ts.countPublished();
        dispatchFast(event, route, ts);
        return EventBus.DONE;
    }

    private void dispatchFast(Object event, Route route, ThreadState ts) {
        Dispatcher d = route.dispatcher;
        if (d == null || d.version != registry.version()) {
            d = registry.dispatcherOf(route.type, route.subscribers);
            route.dispatcher = d;
        }
        if (d.count == 0) {
            deadEvent(event);
            return;
        }
        ts.countDelivered(d.count);
        DispatchContext ctx = ts.ctx;
        int frame = ctx.pushFast(route, event);
        try {
            d.dispatch(event, ctx, frame);
        } finally {
            ctx.popFast(frame, route);
        }
    }

    /** Local dispatch with a lazily built envelope: the synchronous path with options and the async worker's. */
    void dispatchLocal(Object event, EventTypes.Info info, PublishOptions options, boolean inherit,
                       Lineage parent, long publishedMillis) {
        Subscriber[] subs = registry.forClass(event.getClass());
        if (subs.length == 0) {
            deadEvent(event);
            return;
        }
        ThreadState ts = threadState();
        ts.countDelivered(subs.length);
        DispatchContext ctx = ts.ctx;
        int frame = ctx.pushLazy(bus, event, info, options, inherit, parent, publishedMillis);
        try {
            for (Subscriber s : subs) {
                try {
                    if (consumeInterceptors.length == 0) {
                        s.invoke(event, s.wantsEnvelope() ? ctx.envelopeAt(frame, bus, event) : null);
                    } else {
                        new ConsumeChain(consumeInterceptors, s, ctx.envelopeAt(frame, bus, event)).proceed();
                    }
                } catch (Throwable t) {
                    failures.onLocalFailure(s, ctx.envelopeAt(frame, bus, event), info, t);
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
            deadEvent(envelope.event());
            return;
        }
        ThreadState ts = threadState();
        ts.countDelivered(subs.length);
        DispatchContext ctx = ts.ctx;
        ctx.push(envelope);
        try {
            for (Subscriber s : subs) {
                try {
                    ConsumeChain.invoke(consumeInterceptors, s, envelope);
                } catch (Throwable t) {
                    failures.onLocalFailure(s, envelope, info, t);
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
        Lineage parent = threadState().ctx.lineage();
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
        Route route = routes.routeOf(event.getClass());
        if (consumeInterceptors.length != 0) {
            dispatchLocal(event, route.info, PublishOptions.none(), false, null, 0L);
            return;
        }
        Dispatcher d = registry.dispatcherOf(route.type, route.subscribers);
        if (d.count == 0) {
            deadEvent(event);
            return;
        }
        ThreadState ts = threadState();
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

    // ---------------------------------------------------------------------------------------------------------
    // Dead events

    private void deadEvent(Object event) {
        counters.deadEvents.increment();
        if (deadEventHandler != null) {
            try {
                deadEventHandler.accept(event);
            } catch (Throwable t) {
                EventBus.log.error("the dead-event handler threw; ignored", t);
            }
        } else if (EventBus.log.isDebugEnabled()) {
            EventBus.log.debug("no subscriber for {}", event.getClass().getName());
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Per-thread state

    /** Counts a publish on the calling thread's state (no shared write). */
    void countPublished() {
        threadState().countPublished();
    }

    /** Publishes so far: the shared count plus every thread's own, ended threads included. */
    long published() {
        synchronized (threadStateList) {
            retireDeadThreadStates();
            long published = counters.published.sum();
            for (ThreadState ts : threadStateList) {
                published += ts.published();
            }
            return published;
        }
    }

    /**
     * Subscriber invocations that succeeded so far: the shared count plus every thread's own. The local paths count
     * each subscriber they call up front, on the thread's state; {@link FailureHandling} takes a failed call's
     * count back from the shared counter (failures are rare; the fast path stays free of shared writes).
     */
    long delivered() {
        synchronized (threadStateList) {
            retireDeadThreadStates();
            long delivered = counters.delivered.sum();
            for (ThreadState ts : threadStateList) {
                delivered += ts.delivered();
            }
            return delivered;
        }
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
                counters.delivered.add(ts.delivered());
                threadStateList.remove(i);
                if (owner == ts) {
                    owner = null;
                }
            }
        }
    }

    /**
     * One thread's state on one bus. {@code published} and {@code delivered} have a single writer, the thread, which counts with plain
     * stores: no lock prefix and no compiler barrier on the fast path (an opaque store measured 2-4 ns more per
     * publish), and no increment is lost. {@link #published()} reads it with an opaque load, so it sees counts as
     * they come; exactly every count once the thread was joined or ended. (Java 17 runs on 64-bit JVMs, where an
     * aligned long store is not split.) Holds no reference to the bus, so a thread does not keep a dropped bus alive.
     */
    private static final class ThreadState {
        private static final java.lang.invoke.VarHandle PUBLISHED;
        private static final java.lang.invoke.VarHandle DELIVERED;

        static {
            try {
                java.lang.invoke.MethodHandles.Lookup l = java.lang.invoke.MethodHandles.lookup();
                PUBLISHED = l.findVarHandle(ThreadState.class, "published", long.class);
                DELIVERED = l.findVarHandle(ThreadState.class, "delivered", long.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        final Thread thread;
        final DispatchContext ctx;
        private long published;
        /** Subscriber calls made by this thread's local dispatch, counted before the call (same single writer). */
        private long delivered;
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

        void countDelivered(int subscribers) {
            delivered += subscribers;
        }

        long delivered() {
            return (long) DELIVERED.getOpaque(this);
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
