package dev.eventbus.jdbc.internal;

import dev.eventbus.EventBusException;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Leader/follower group commit without a thread of its own: callers that arrive while a batch is being written
 * queue up; the caller that finds no batch in flight becomes the <em>leader</em>, takes what is queued (bounded by
 * {@code maxRequests} and {@code maxWeight}; always at least its own request), hands the batch to the
 * {@link Writer} on its own thread, and when the writer is done passes leadership to the first caller still
 * queued (or gives it up when none is). A caller alone writes at once: no timer, no added latency.
 *
 * <p>At most {@code maxInFlight} batches are written at a time (the event store uses one: the more callers arrive
 * during a write, the larger the next batch).
 *
 * <p>A waiting caller is woken when its request completes or when it becomes the leader. It never waits forever
 * on a leader that is gone: the leader completes every request of its batch in a {@code finally} (failing those the
 * writer left open), and a waiter also checks every second that the leader's thread is alive. An interrupted caller
 * that is still queued leaves the queue and gets an {@link EventBusException} (nothing was written for it); one
 * whose request is already being written waits for the outcome (which the database decides in a moment) and
 * returns with its interrupt flag set.
 *
 * <p>Thread-safe.
 *
 * @param <T> the work of one request
 */
public final class GroupCommit<T> {

    /** Writes one batch. Must complete or fail every request before it returns (leftovers are failed for it). */
    @FunctionalInterface
    public interface Writer<T> {
        void write(List<Request<T>> batch);
    }

    /** How many requests and batches every group commit in this JVM has written (for the benchmark's figures). */
    private static final LongAdder REQUESTS = new LongAdder();
    private static final LongAdder BATCHES = new LongAdder();

    public static long requestsWritten() {
        return REQUESTS.sum();
    }

    public static long batchesWritten() {
        return BATCHES.sum();
    }

    private static final int QUEUED = 0;
    private static final int LEADING = 1;
    private static final int IN_BATCH = 2;
    private static final int DONE = 3;

    /** One caller's work and, once written, its outcome. */
    public static final class Request<T> {
        private final T work;
        private final int weight;
        private final Thread caller;
        private volatile int state = QUEUED;
        /** The thread writing the batch this request is in (set when it joins a batch). */
        private volatile Thread leader;
        private long result;
        private RuntimeException failure;

        Request(T work, int weight, Thread caller) {
            this.work = work;
            this.weight = weight;
            this.caller = caller;
        }

        public T work() {
            return work;
        }

        public boolean isDone() {
            return state == DONE;
        }

        /** Completes the request with its result (ignored when already completed). */
        public void complete(long value) {
            finish(value, null);
        }

        /** Fails the request (ignored when already completed). */
        public void fail(RuntimeException e) {
            finish(0, e);
        }

        private synchronized void finish(long value, RuntimeException e) {
            if (state == DONE) {
                return;
            }
            result = value;
            failure = e;
            state = DONE; // volatile write after the fields: a reader that sees DONE sees them
            LockSupport.unpark(caller);
        }
    }

    private final Writer<T> writer;
    private final int maxRequests;
    private final int maxWeight;
    private final ReentrantLock lock = new ReentrantLock();
    private final ArrayDeque<Request<T>> queue = new ArrayDeque<>();
    private final int maxInFlight;
    /** The threads of the batches in flight (at most {@code maxInFlight}). Guarded by {@code lock}. */
    private final List<Thread> leaders = new ArrayList<>();

    /**
     * @param maxRequests at most this many requests per batch
     * @param maxWeight   at most this much weight per batch (a single heavier request is written alone)
     */
    public GroupCommit(Writer<T> writer, int maxRequests, int maxWeight) {
        this(writer, maxRequests, maxWeight, 1);
    }

    /** @param maxInFlight at most this many batches are written at a time (each by its leader) */
    public GroupCommit(Writer<T> writer, int maxRequests, int maxWeight, int maxInFlight) {
        this.maxInFlight = maxInFlight;
        this.writer = writer;
        this.maxRequests = maxRequests;
        this.maxWeight = maxWeight;
    }

    /**
     * Has {@code work} written, in a batch of its own or with others', and returns the writer's result for it;
     * blocks until then.
     *
     * @throws RuntimeException what the writer failed the request with
     */
    public long submit(T work, int weight) {
        Request<T> r = new Request<>(work, weight, Thread.currentThread());
        lock.lock();
        try {
            if (leaders.size() < maxInFlight) {
                leaders.add(r.caller);
                r.state = LEADING;
            } else {
                queue.addLast(r);
            }
        } finally {
            lock.unlock();
        }
        boolean interrupted = r.state != LEADING && await(r);
        if (r.state == LEADING) {
            lead(r);
        }
        if (interrupted) {
            Thread.currentThread().interrupt(); // after leading: a leader writes for others, undisturbed
        }
        RuntimeException failure = r.failure;
        if (failure != null) {
            if (r.leader != r.caller) {
                // Made on the leader's thread: show where this caller called (the cause keeps the database's part).
                failure.setStackTrace(new Throwable().getStackTrace());
            }
            throw failure;
        }
        return r.result;
    }

    private final LongAdder requests = new LongAdder();
    private final LongAdder batches = new LongAdder();

    /** Requests this group commit has written (completed or failed by a writer). */
    public long requests() {
        return requests.sum();
    }

    /** Batches this group commit has written: {@code requests() / batches()} appends shared a batch on average. */
    public long batches() {
        return batches.sum();
    }

    /** Requests waiting for a leader right now. */
    public int queued() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    private void lead(Request<T> first) {
        List<Request<T>> batch = new ArrayList<>();
        batch.add(first);
        first.leader = first.caller;
        first.state = IN_BATCH;
        int weight = first.weight;
        lock.lock();
        try {
            Request<T> next;
            while (batch.size() < maxRequests && (next = queue.peekFirst()) != null
                    && weight + next.weight <= maxWeight) {
                queue.pollFirst();
                next.leader = first.caller;
                next.state = IN_BATCH;
                batch.add(next);
                weight += next.weight;
            }
        } finally {
            lock.unlock();
        }
        try {
            writer.write(batch);
        } catch (RuntimeException e) {
            failAll(batch, e); // the callers get it, the leader's own caller too
        } catch (Error e) {
            failAll(batch, e);
            throw e;
        } finally {
            failAll(batch, null); // a writer that left a request open must not leave its caller waiting
            REQUESTS.add(batch.size());
            BATCHES.increment();
            requests.add(batch.size());
            batches.increment();
            handOn();
        }
    }

    private static <T> void failAll(List<Request<T>> batch, Throwable cause) {
        for (Request<T> r : batch) {
            if (!r.isDone()) {
                r.fail(new EventBusException("the group commit that was writing this append failed before it"
                        + " completed it (it may or may not be stored: read the stream to find out): "
                        + (cause == null ? "the writer returned without an outcome" : cause.toString()), cause));
            }
        }
    }

    /** Makes the first queued caller the leader, or leaves no leader when none is queued. */
    private void handOn() {
        lock.lock();
        try {
            leaders.remove(Thread.currentThread());
            promote();
        } finally {
            lock.unlock();
        }
    }

    /** Waits until {@code r} is done or leads; true when the thread was interrupted meanwhile (flag cleared). */
    private boolean await(Request<T> r) {
        boolean interrupted = false;
        while (true) {
            int s = r.state;
            if (s == DONE || s == LEADING) {
                return interrupted;
            }
            LockSupport.parkNanos(this, TimeUnit.SECONDS.toNanos(1));
            if (Thread.interrupted()) {
                interrupted = true;
                if (leaveQueue(r)) {
                    Thread.currentThread().interrupt();
                    throw new EventBusException("interrupted while waiting to be written by a group commit;"
                            + " nothing was written for this append", new InterruptedException(), true);
                }
                // Already in a batch being written (or leading): its outcome is decided in a moment, so go on.
            }
            checkLeaderAlive(r);
        }
    }

    private boolean leaveQueue(Request<T> r) {
        lock.lock();
        try {
            return r.state == QUEUED && queue.remove(r);
        } finally {
            lock.unlock();
        }
    }

    /**
     * A leader's thread cannot end without its {@code finally}; this is the guard against the impossible (a thread
     * stopped by force): a request in the batch of a dead thread fails, and a dead leader's place is given on.
     */
    private void checkLeaderAlive(Request<T> r) {
        Thread inBatch = r.leader;
        if (r.state == IN_BATCH && inBatch != null && !inBatch.isAlive()) {
            r.fail(new EventBusException("the thread writing this append's group commit ended before it completed"
                    + " it (it may or may not be stored: read the stream to find out)"));
        }
        lock.lock();
        try {
            if (leaders.removeIf(t -> !t.isAlive())) {
                promote();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Fills the free places of leaders with the first queued callers. Under {@code lock}. */
    private void promote() {
        Request<T> next;
        while (leaders.size() < maxInFlight && (next = queue.pollFirst()) != null) {
            leaders.add(next.caller);
            next.state = LEADING;
            LockSupport.unpark(next.caller);
        }
    }
}
