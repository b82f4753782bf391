package dev.eventbus.internal;

import dev.eventbus.EventBusException;
import dev.eventbus.OverflowPolicy;

import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * Bounded, ordered lanes on a shared executor: items with the same key go to the same lane and are handled one
 * after the other in submission order; different lanes run in parallel, as far as the executor allows.
 *
 * <p>Each lane is an {@link ArrayBlockingQueue} plus a "scheduled" flag: the submitter that finds the lane idle
 * hands one drain task to the executor, which handles items in batches and resubmits itself for fairness.
 * So there is at most one task per lane in the executor, and the executor's own queue stays bounded by the
 * number of lanes.
 *
 * <p>A full lane applies the {@link OverflowPolicy}. For {@code CALLER_RUNS} the caller takes the lane's
 * processing lock and handles the oldest items itself, which keeps the lane's order.
 *
 * <p>Thread-safe.
 */
public final class KeyedLanes<T> {

    private static final int BATCH = 256;

    private final Lane<T>[] lanes;
    private final int mask;
    private final Executor executor;
    private final Consumer<T> consumer;
    private final BooleanSupplier ready;
    private final OverflowPolicy overflow;
    private final long blockNanos;
    private final String name;

    private final LongAdder overflowed = new LongAdder();
    private final LongAdder rejected = new LongAdder();

    /**
     * @param laneCount     rounded up to a power of two
     * @param laneCapacity  items one lane holds before it overflows
     * @param consumer      handles one item; must not throw (exceptions are caught and logged as a bug)
     * @param ready         false while nobody can handle items (they stay queued); {@link #kick()} after it turns true
     */
    @SuppressWarnings("unchecked")
    public KeyedLanes(String name, int laneCount, int laneCapacity, Executor executor, Consumer<T> consumer,
                      BooleanSupplier ready, OverflowPolicy overflow, Duration blockTimeout) {
        int n = Integer.highestOneBit(Math.max(1, laneCount - 1)) << 1;
        if (laneCount == 1) {
            n = 1;
        }
        this.lanes = new Lane[n];
        for (int i = 0; i < n; i++) {
            lanes[i] = new Lane<>(laneCapacity);
        }
        this.mask = n - 1;
        this.executor = executor;
        this.consumer = consumer;
        this.ready = ready;
        this.overflow = overflow;
        this.blockNanos = blockTimeout.toNanos();
        this.name = name;
    }

    /** The lane index for a key; a null key maps to the calling thread, so one thread's unkeyed items stay in order. */
    public int laneOf(Object key) {
        int h = key == null ? Long.hashCode(Thread.currentThread().getId()) * 0x9E3779B9 : spread(key.hashCode());
        return h & mask;
    }

    private static int spread(int h) {
        return (h ^ (h >>> 16)) * 0x45d9f3b;
    }

    public int laneCount() {
        return lanes.length;
    }

    /**
     * Queues an item on the lane of {@code key}. Applies the overflow policy when the lane is full.
     *
     * @throws EventBusException when the item could not be queued (lane full under FAIL, or BLOCK timed out)
     */
    public void submit(Object key, T item) {
        submitToLane(laneOf(key), item);
    }

    public void submitToLane(int laneIndex, T item) {
        Lane<T> lane = lanes[laneIndex];
        if (!lane.queue.offer(item)) {
            overflowed.increment();
            offerSlow(lane, item);
        }
        schedule(lane);
    }

    private void offerSlow(Lane<T> lane, T item) {
        switch (overflow) {
            case FAIL:
                rejected.increment();
                throw new EventBusException(name + ": queue full (" + lane.queue.remainingCapacity()
                        + " free) and the overflow policy is FAIL", null, true);
            case CALLER_RUNS:
                while (!lane.queue.offer(item)) {
                    lane.processing.lock();
                    try {
                        T head = lane.queue.poll();
                        if (head != null) {
                            runOne(head);
                        }
                    } finally {
                        lane.processing.unlock();
                    }
                }
                return;
            case BLOCK:
            default:
                try {
                    schedule(lane);
                    if (!lane.queue.offer(item, blockNanos, TimeUnit.NANOSECONDS)) {
                        rejected.increment();
                        throw new EventBusException(name + ": queue full for "
                                + TimeUnit.NANOSECONDS.toMillis(blockNanos) + " ms (overflow policy BLOCK)", null, true);
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    rejected.increment();
                    throw new EventBusException(name + ": interrupted while waiting for queue space", e);
                }
        }
    }

    private void schedule(Lane<T> lane) {
        if (!lane.scheduled.get() && lane.scheduled.compareAndSet(false, true)) {
            try {
                executor.execute(() -> drain(lane));
            } catch (RuntimeException e) {
                lane.scheduled.set(false);
                throw new EventBusException(name + ": executor refused work (closed?)", e);
            }
        }
    }

    private void drain(Lane<T> lane) {
        if (ready.getAsBoolean()) {
            lane.processing.lock();
            try {
                // Take a batch under one queue lock instead of locking per item (profiled: the consumer's poll
                // contended with every producer offer). Readiness is checked per batch; a consumer that finds
                // itself unable to handle an item (its subscriber left) puts it back itself.
                java.util.ArrayList<T> batch = lane.batch;
                lane.queue.drainTo(batch, BATCH);
                try {
                    for (int i = 0; i < batch.size(); i++) {
                        runOne(batch.get(i));
                    }
                } finally {
                    batch.clear();
                }
            } finally {
                lane.processing.unlock();
            }
        }
        lane.scheduled.set(false);
        // Re-check: an item may have arrived between the last poll and clearing the flag.
        if (!lane.queue.isEmpty() && ready.getAsBoolean()) {
            schedule(lane);
        }
    }

    private void runOne(T item) {
        try {
            consumer.accept(item);
        } catch (Throwable t) {
            // The consumer is the library's own code and must not throw; never let a lane die silently.
            org.slf4j.LoggerFactory.getLogger(KeyedLanes.class).error("{}: dispatch failed unexpectedly", name, t);
        }
    }

    /** Schedules every non-empty lane; call when {@code ready} turns true. */
    public void kick() {
        for (Lane<T> lane : lanes) {
            if (!lane.queue.isEmpty()) {
                try {
                    schedule(lane);
                } catch (EventBusException ignored) {
                    return;
                }
            }
        }
    }

    /** Items queued and not yet taken by a worker. */
    public int queued() {
        int n = 0;
        for (Lane<T> lane : lanes) {
            n += lane.queue.size();
        }
        return n;
    }

    /** True when nothing is queued and no lane is being drained. */
    public boolean idle() {
        for (Lane<T> lane : lanes) {
            if (!lane.queue.isEmpty() || lane.scheduled.get() || lane.processing.isLocked()) {
                return false;
            }
        }
        return true;
    }

    /** Waits until {@link #idle()} or the deadline; returns whether idle. */
    public boolean awaitIdle(long deadlineNanos) {
        while (!idle()) {
            if (System.nanoTime() - deadlineNanos >= 0) {
                return false;
            }
            try {
                Thread.sleep(2);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return true;
    }

    /** Removes and returns every queued item of every lane (for handing back on close). */
    public java.util.List<T> drainQueued() {
        java.util.List<T> out = new java.util.ArrayList<>();
        for (Lane<T> lane : lanes) {
            lane.queue.drainTo(out);
        }
        return out;
    }

    public long overflowCount() {
        return overflowed.sum();
    }

    public long rejectedCount() {
        return rejected.sum();
    }

    private static final class Lane<T> {
        final ArrayBlockingQueue<T> queue;
        final AtomicBoolean scheduled = new AtomicBoolean();
        final ReentrantLock processing = new ReentrantLock();
        final java.util.ArrayList<T> batch = new java.util.ArrayList<>(BATCH);

        Lane(int capacity) {
            this.queue = new ArrayBlockingQueue<>(Math.max(1, capacity));
        }
    }
}
