package dev.eventbus;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;

/**
 * The synchronous in-memory fast path: a publish without options, to the in-memory transport, with no
 * interceptors, goes from the route to the subscribers as objects. One class lookup (the route, from an inline
 * cache, which holds the registry's cache entry and the class's generated {@link Dispatcher}), a frame in the
 * thread's {@link DispatchContext} that is only a depth counter, a count on the thread's own {@link ThreadState},
 * direct invoker calls: nothing allocated unless a subscriber takes the envelope, and no shared write.
 *
 * <p>{@link EventBus} extends this class, and only it does, so that this state lives in the bus object itself: a
 * publish reads its route cache, its thread's state and the registry's version from the object it was called on.
 * Measured with them one field away, in an object of their own: 1.2 ns more per publish (about 30%), the length
 * of one more dependent load on the way to the subscriber.
 *
 * <p>Thread-safe: the inline cache and the owner field are racy by design (they hold immutable objects, checked on
 * every read), and each {@link ThreadState} has one writer, its thread.
 */
abstract class FastPath {

    final SubscriberRegistry registry = new SubscriberRegistry();
    final Counters counters = new Counters();
    private final Consumer<Object> deadEventHandler;
    /** The inline cache of {@link #routeOf}: the last two routes looked up. */
    private Route route1;
    private Route route2;
    /** The thread state of the thread that publishes most here (see {@link #threadState}); racy by design. */
    private ThreadState owner;
    private final ThreadLocal<ThreadState> threadStates = ThreadLocal.withInitial(this::newThreadState);
    /** Every live thread's state, for {@link EventBus#stats()}; guarded by itself. */
    private final List<ThreadState> threadStateList = new ArrayList<>();
    /** Size of {@link #threadStateList} at which the next new thread state first retires ended threads. */
    private int retireScanAt = 64;

    FastPath(Consumer<Object> deadEventHandler) {
        this.deadEventHandler = deadEventHandler;
    }

    /** The route of {@code type}, computed once per class ({@link Routes#lookup}). */
    abstract Route lookupRoute(Class<?> type);

    // ---------------------------------------------------------------------------------------------------------
    // Routes

    /**
     * The route of {@code type}: a bimorphic inline cache in two plain fields first (most buses publish few event
     * classes, and two reads beat a {@code ClassValue} lookup), then the {@code ClassValue}. Routes are immutable
     * (final fields), so a racy read of either field sees a complete route or null; a stale one fails the type check.
     */
    final Route routeOf(Class<?> type) {
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
        Route r = lookupRoute(type);
        // Most recent first: two classes alternating settle into one slot each and stop writing.
        route2 = route1;
        route1 = r;
        return r;
    }

    /** The type information of events of class {@code type}. */
    final EventTypes.Info infoOf(Class<?> type) {
        return routeOf(type).info;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Dispatch

    /** Publishes {@code event}, whose route is {@link Route#fast}, to the subscribers on the calling thread. */
    final CompletableFuture<Void> publishFast(Object event, Route route) {
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

    /** An in-memory event no subscriber takes: counted, and handed to the dead-event handler if there is one. */
    final void deadEvent(Object event) {
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
    final void countPublished() {
        threadState().countPublished();
    }

    /** Publishes so far: the shared count plus every thread's own, ended threads included. */
    final long published() {
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
    final long delivered() {
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
     * The calling thread's state for this bus: its dispatch context and its own counts. The thread that publishes
     * most finds it in one field ({@link #owner}), the others through a ThreadLocal; a thread that misses 1024 times
     * takes the field over, so the field is written rarely even with many publishing threads.
     */
    final ThreadState threadState() {
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
     * Folds the counts of threads that ended into the shared counters and forgets their states, so the list holds
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
     * One thread's state on one bus. {@code published} and {@code delivered} have a single writer, the thread,
     * which counts with plain stores: no lock prefix and no compiler barrier on the fast path (an opaque store
     * measured 2-4 ns more per publish), and no increment is lost. {@link #published()} reads them with an opaque
     * load, so it sees counts as they come; exactly every count once the thread was joined or ended. (Java 17 runs
     * on 64-bit JVMs, where an aligned long store is not split.) Holds no reference to the bus, so a thread does not
     * keep a dropped bus alive.
     */
    static final class ThreadState {
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
}
