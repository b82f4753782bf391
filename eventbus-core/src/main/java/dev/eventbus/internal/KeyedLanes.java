package dev.eventbus.internal;

import dev.eventbus.EventBusException;
import dev.eventbus.OverflowPolicy;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * Bounded, ordered lanes on a shared executor: items with the same key go to the same lane and are handled one
 * after the other in submission order; different lanes run in parallel, as far as the executor allows.
 *
 * <p>Each lane is a bounded multi-producer, single-consumer ring (lock-free: a producer claims a slot with one CAS,
 * the consumer, who holds the lane's processing lock, frees it with a plain ordered store) plus a "scheduled"
 * flag: the submitter that finds the lane idle hands one drain task to the executor. The drain task handles items
 * until the lane stays empty for a short spin ({@value #SPIN_NANOS} ns), or for fairness after {@value #ROUNDS}
 * items, then resubmits itself. So a steady producer never pays for waking the consumer (profiled: waking it, and
 * a lock shared by producer and consumer, were most of an asynchronous publish), there is at most one task per lane
 * in the executor, and the executor's own queue stays bounded by the number of lanes.
 *
 * <p>A full lane applies the {@link OverflowPolicy}. For {@code CALLER_RUNS} the caller takes the lane's
 * processing lock and handles the oldest items itself, which keeps the lane's order. For {@code BLOCK}, a publisher
 * that is itself a drain task (a subscriber publishing) does the same instead of waiting, since it may be the only
 * one who could ever free the space it waits for.
 *
 * <p>Thread-safe.
 */
public final class KeyedLanes<T> {

    /** Items one drain task handles before it lets other lanes have the executor's thread. */
    private static final int ROUNDS = 4096;
    /** How long a drain task waits for more items in an empty lane before it gives the thread back. */
    private static final long SPIN_NANOS = 20_000;

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
        if (!lane.ring.offer(item)) {
            overflowed.increment();
            offerSlow(lane, item);
        }
        if (!lane.scheduled.get()) {
            schedule(lane);
        }
    }

    private void offerSlow(Lane<T> lane, T item) {
        switch (overflow) {
            case FAIL:
                rejected.increment();
                throw new EventBusException(name + ": queue full (" + lane.ring.capacity
                        + " queued) and the overflow policy is FAIL", null, true);
            case CALLER_RUNS:
                while (!lane.ring.offer(item)) {
                    lane.processing.lock();
                    runOldestLocked(lane);
                }
                return;
            case BLOCK:
            default:
                if (drainsAnyLane()) {
                    offerFromDrainTask(lane, item);
                    return;
                }
                long deadline = System.nanoTime() + blockNanos;
                schedule(lane);
                for (int spins = 0; !lane.ring.offer(item); spins++) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        rejected.increment();
                        throw new EventBusException(name + ": queue full for "
                                + TimeUnit.NANOSECONDS.toMillis(blockNanos) + " ms (overflow policy BLOCK)", null, true);
                    }
                    if (Thread.interrupted()) {
                        Thread.currentThread().interrupt();
                        rejected.increment();
                        throw new EventBusException(name + ": interrupted while waiting for queue space",
                                new InterruptedException());
                    }
                    if (spins < 64) {
                        Thread.onSpinWait();
                    } else {
                        // The consumer frees slots without signalling: poll, backing off up to 1 ms.
                        LockSupport.parkNanos(Math.min(left, Math.min(1_000_000L, 1_000L << Math.min(10, spins - 64))));
                        if (!lane.scheduled.get()) {
                            schedule(lane);
                        }
                    }
                }
        }
    }

    /** True on a drain task's thread: a subscriber publishing while it handles an item of some lane. */
    private boolean drainsAnyLane() {
        for (Lane<T> l : lanes) {
            if (l.processing.isHeldByCurrentThread()) {
                return true;
            }
        }
        return false;
    }

    /**
     * BLOCK for a publisher that is itself a lane's consumer: waiting for space could mean waiting for itself (its
     * own lane is full, and only it drains that lane). So it makes the space: whenever it can take the full lane's
     * processing lock (always for its own lane) it handles the lane's oldest item inline, which keeps the lane's
     * order; when another worker holds that lane, it waits for that worker as BLOCK does, up to the timeout.
     */
    private void offerFromDrainTask(Lane<T> lane, T item) {
        long deadline = System.nanoTime() + blockNanos;
        while (!lane.ring.offer(item)) {
            if (lane.processing.tryLock()) {
                runOldestLocked(lane);
                continue;
            }
            if (System.nanoTime() - deadline >= 0) {
                rejected.increment();
                throw new EventBusException(name + ": queue full for " + TimeUnit.NANOSECONDS.toMillis(blockNanos)
                        + " ms (overflow policy BLOCK)", null, true);
            }
            LockSupport.parkNanos(10_000L);
        }
    }

    /** Handles the lane's oldest item, if any, on the calling thread, which holds its lock; then unlocks it. */
    private void runOldestLocked(Lane<T> lane) {
        try {
            Object head = lane.ring.poll();
            if (head != null) {
                runOne(head);
            }
        } finally {
            lane.processing.unlock();
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
                // Readiness is checked per drain task; a consumer that finds itself unable to handle an item (its
                // subscriber left) puts it back itself.
                Ring ring = lane.ring;
                long spinUntil = 0;
                for (int n = 0; n < ROUNDS; ) {
                    Object item = ring.poll();
                    if (item != null) {
                        runOne(item);
                        if ((++n & 0xFF) == 0 && lane.processing.hasQueuedThreads()) {
                            break; // a CALLER_RUNS publisher waits for the lock: let it in
                        }
                        spinUntil = 0;
                        continue;
                    }
                    // Empty: wait a little for the producer's next item rather than hand the thread back and have
                    // the producer wake it again (a wake-up costs both sides microseconds).
                    long now = System.nanoTime();
                    if (spinUntil == 0) {
                        spinUntil = now + SPIN_NANOS;
                    } else if (now - spinUntil > 0) {
                        break;
                    }
                    for (int i = 0; i < 32 && ring.isEmpty(); i++) {
                        Thread.onSpinWait();
                    }
                }
            } finally {
                lane.processing.unlock();
            }
        }
        lane.scheduled.set(false);
        // Re-check: an item may have arrived after the last poll (the producer saw "scheduled" still set).
        if (!lane.ring.isEmpty() && ready.getAsBoolean()) {
            schedule(lane);
        }
    }

    @SuppressWarnings("unchecked")
    private void runOne(Object item) {
        try {
            consumer.accept((T) item);
        } catch (Throwable t) {
            // The consumer is the library's own code and must not throw; never let a lane die silently.
            org.slf4j.LoggerFactory.getLogger(KeyedLanes.class).error("{}: dispatch failed unexpectedly", name, t);
        }
    }

    /** Schedules every non-empty lane; call when {@code ready} turns true. */
    public void kick() {
        for (Lane<T> lane : lanes) {
            if (!lane.ring.isEmpty()) {
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
            n += lane.ring.size();
        }
        return n;
    }

    /** True when nothing is queued and no lane is being drained. */
    public boolean idle() {
        for (Lane<T> lane : lanes) {
            if (!lane.ring.isEmpty() || lane.scheduled.get() || lane.processing.isLocked()) {
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
    @SuppressWarnings("unchecked")
    public java.util.List<T> drainQueued() {
        java.util.List<T> out = new java.util.ArrayList<>();
        for (Lane<T> lane : lanes) {
            lane.processing.lock();
            try {
                for (Object item; (item = lane.ring.poll()) != null; ) {
                    out.add((T) item);
                }
            } finally {
                lane.processing.unlock();
            }
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
        final Ring ring;
        final AtomicBoolean scheduled = new AtomicBoolean();
        /** Held by whoever consumes from the ring: the ring has a single consumer at any time. */
        final ReentrantLock processing = new ReentrantLock();

        Lane(int capacity) {
            this.ring = new Ring(Math.max(1, capacity));
        }
    }

    /**
     * A bounded multi-producer, single-consumer queue on an array (the JCTools MpscArrayQueue scheme): a producer
     * claims index {@code p} with a CAS on {@code producerIndex} (refused when {@code p - consumerIndex} reaches the
     * capacity, so the bound is exact) and then publishes the item into its slot with a release store; the single
     * consumer takes the item with an acquire load, clears the slot and advances {@code consumerIndex} with a
     * release store, which is what lets a producer reuse the slot. An item is never null.
     */
    static final class Ring {
        private static final VarHandle PRODUCER;
        private static final VarHandle CONSUMER;
        private static final VarHandle SLOTS = MethodHandles.arrayElementVarHandle(Object[].class);

        static {
            try {
                MethodHandles.Lookup l = MethodHandles.lookup();
                PRODUCER = l.findVarHandle(Ring.class, "producerIndex", long.class);
                CONSUMER = l.findVarHandle(Ring.class, "consumerIndex", long.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        final int capacity;
        private final Object[] slots;
        private final int mask;
        // Padded apart: producers write one, the consumer the other.
        long p01, p02, p03, p04, p05, p06, p07;
        private volatile long producerIndex;
        long p11, p12, p13, p14, p15, p16, p17;
        private volatile long consumerIndex;
        long p21, p22, p23, p24, p25, p26, p27;

        Ring(int capacity) {
            this.capacity = capacity;
            int size = capacity <= 1 ? 1 : Integer.highestOneBit(capacity - 1) << 1;
            if (size < capacity) {
                throw new IllegalArgumentException("capacity too large: " + capacity);
            }
            this.slots = new Object[size];
            this.mask = size - 1;
        }

        boolean offer(Object item) {
            while (true) {
                long p = producerIndex;
                if (p - consumerIndex >= capacity) {
                    return false;
                }
                if (PRODUCER.weakCompareAndSet(this, p, p + 1)) {
                    SLOTS.setRelease(slots, (int) p & mask, item);
                    return true;
                }
            }
        }

        /** The oldest item, or null when empty. Only the consumer (the holder of the processing lock) calls it. */
        Object poll() {
            long c = (long) CONSUMER.getOpaque(this);
            int slot = (int) c & mask;
            Object item = SLOTS.getAcquire(slots, slot);
            if (item == null) {
                if (c == producerIndex) {
                    return null;
                }
                // Claimed but not yet stored: the producer is between its CAS and its store.
                do {
                    Thread.onSpinWait();
                    item = SLOTS.getAcquire(slots, slot);
                } while (item == null);
            }
            slots[slot] = null;
            CONSUMER.setRelease(this, c + 1);
            return item;
        }

        boolean isEmpty() {
            return consumerIndex == producerIndex;
        }

        int size() {
            long n = producerIndex - consumerIndex;
            return (int) Math.max(0, Math.min(capacity, n));
        }
    }
}
