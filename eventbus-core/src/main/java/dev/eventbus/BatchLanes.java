package dev.eventbus;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * The batches of one batch subscriber: events wait in per-key lanes until a lane holds {@code maxSize} of them or
 * its oldest has waited {@code maxWait}; then the subscriber is called with them (see {@link Subscribe#batchSize()}
 * for the policy). Each lane has at most one call running, and the next batch of a lane starts only when the
 * previous call returned, so per-key order holds. A lane holds at most {@code maxSize} events besides the running
 * batch: an offer to a full lane waits (backpressure into the transport), except from the thread running that
 * lane's batch (a subscriber publishing to itself), which could otherwise wait for itself.
 *
 * <p>A size-triggered batch runs on the thread whose offer filled it (the transport's delivery thread, no
 * hand-off); a wait-triggered one on {@link Scheduler}'s threads. Every offered {@link Item} is told exactly once
 * how it ended: {@link Item#finished} (handled, or failed alone) or {@link Item#abandoned} (closed before a call).
 *
 * <p>Thread-safe.
 */
final class BatchLanes {

    private static final Logger log = LoggerFactory.getLogger(BatchLanes.class);

    /** One event waiting in, or handed to, a batch; told its fate exactly once. */
    abstract static class Item {
        final Envelope<?> envelope;
        /** The delivery attempt (1 for a first delivery). */
        final int attempt;
        long arrived;

        Item(Envelope<?> envelope, int attempt) {
            this.envelope = envelope;
            this.attempt = attempt;
        }

        /**
         * Handled (failure null), or failed when called alone ({@code attempts}: the attempts it counts as used,
         * for the retry policy).
         */
        abstract void finished(Throwable failure, int attempts);

        /** Never handed to the subscriber: the batcher closed first. Must stay unacknowledged. */
        abstract void abandoned();
    }

    private final Subscriber subscriber;
    final int maxSize;
    final long maxWaitNanos;
    private final RetryPolicy retry;
    private final Scheduler scheduler;
    private final Lane[] lanes;
    private volatile boolean flushing;
    private volatile boolean closed;

    BatchLanes(Subscriber subscriber, int maxSize, long maxWaitNanos, int laneCount, RetryPolicy retry,
               Scheduler scheduler) {
        this.subscriber = subscriber;
        this.maxSize = maxSize;
        this.maxWaitNanos = maxWaitNanos;
        this.retry = retry;
        this.scheduler = scheduler;
        this.lanes = new Lane[Math.max(1, laneCount)];
        for (int i = 0; i < lanes.length; i++) {
            lanes[i] = new Lane();
        }
    }

    private Lane laneOf(Item item) {
        String key = item.envelope.subject();
        // No key: the offering thread's lane, so one transport lane's unkeyed events keep their order.
        int h = key == null ? Long.hashCode(Thread.currentThread().getId()) * 0x9E3779B9 : key.hashCode() * 0x9E3779B9;
        return lanes[Math.floorMod(h ^ (h >>> 16), lanes.length)];
    }

    /** Adds an event to its lane; may run a full batch on this thread, or wait while the lane is full. */
    void offer(Item item) {
        Lane lane = laneOf(item);
        List<Item> run = null;
        boolean accepted = false;
        synchronized (lane) {
            while (lane.waiting.size() >= maxSize && lane.running && lane.runner != Thread.currentThread()
                    && !closed) {
                try {
                    lane.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break; // an interrupted transport thread: take the item anyway rather than lose it
                }
            }
            if (!closed) {
                accepted = true;
                item.arrived = System.nanoTime();
                lane.waiting.add(item);
                if (!lane.running && (lane.waiting.size() >= maxSize || flushing || maxWaitNanos == 0)) {
                    run = take(lane);
                } else if (!lane.running && !lane.timerArmed) {
                    arm(lane, maxWaitNanos);
                }
            }
        }
        if (!accepted) {
            item.abandoned();
        } else if (run != null) {
            runLoop(lane, run);
        }
    }

    /** Takes up to {@code maxSize} waiting events as the lane's next batch; the lane counts as running. Lane lock held. */
    private List<Item> take(Lane lane) {
        int n = Math.min(maxSize, lane.waiting.size());
        List<Item> batch = new ArrayList<>(lane.waiting.subList(0, n));
        lane.waiting.subList(0, n).clear();
        lane.running = true;
        lane.notifyAll();
        return batch;
    }

    private boolean due(Lane lane, long now) {
        return !lane.waiting.isEmpty() && now - lane.waiting.get(0).arrived >= maxWaitNanos;
    }

    private void arm(Lane lane, long delayNanos) {
        lane.timerArmed = true;
        try {
            scheduler.timers.schedule(() -> onTimer(lane), Math.max(0, delayNanos), TimeUnit.NANOSECONDS);
        } catch (RejectedExecutionException e) {
            lane.timerArmed = false; // shutting down: close() abandons what waits
        }
    }

    private void onTimer(Lane lane) {
        List<Item> run;
        synchronized (lane) {
            lane.timerArmed = false;
            if (lane.running || lane.waiting.isEmpty()) {
                return; // the running call's thread looks at the lane when it returns
            }
            long now = System.nanoTime();
            if (!flushing && !due(lane, now)) {
                arm(lane, maxWaitNanos - (now - lane.waiting.get(0).arrived));
                return;
            }
            run = take(lane);
        }
        execute(lane, run);
    }

    private void execute(Lane lane, List<Item> run) {
        try {
            scheduler.runners.execute(() -> runLoop(lane, run));
        } catch (RejectedExecutionException e) {
            synchronized (lane) {
                lane.running = false;
                lane.notifyAll();
            }
            run.forEach(Item::abandoned);
        }
    }

    /** Runs {@code batch}, then the lane's next batch while one is ready; leaves the lane idle or timed. */
    private void runLoop(Lane lane, List<Item> batch) {
        synchronized (lane) {
            lane.runner = Thread.currentThread();
        }
        while (batch != null) {
            try {
                handle(batch);
            } catch (Throwable t) {
                // handle() reports every item itself; this is a bug guard so that the lane never stays stuck.
                log.error("batch of {} failed unexpectedly", subscriber.id, t);
            }
            synchronized (lane) {
                batch = null;
                if (!lane.waiting.isEmpty() && !closed
                        && (lane.waiting.size() >= maxSize || flushing || due(lane, System.nanoTime()))) {
                    batch = take(lane);
                } else {
                    lane.running = false;
                    lane.runner = null;
                    if (!lane.waiting.isEmpty() && !lane.timerArmed && !closed) {
                        arm(lane, maxWaitNanos - (System.nanoTime() - lane.waiting.get(0).arrived));
                    }
                    lane.notifyAll();
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ the policy

    /** The whole batch, with the policy's immediate retries; then halves until each failure stands alone. */
    private void handle(List<Item> batch) {
        Throwable failure = call(batch);
        for (int attempt = 2; failure != null && retry.isRetriable(failure) && retry.isImmediate(attempt); attempt++) {
            failure = call(batch);
        }
        if (failure == null) {
            succeeded(batch);
        } else if (batch.size() == 1) {
            failedAlone(batch.get(0), failure);
        } else {
            log.debug("batch of {} events for {} failed ({}); splitting it to find the events that fail",
                    batch.size(), subscriber.id, failure.toString());
            bisect(batch);
        }
    }

    private void bisect(List<Item> batch) {
        int half = batch.size() / 2;
        for (List<Item> part : List.of(batch.subList(0, half), batch.subList(half, batch.size()))) {
            Throwable failure = call(part);
            if (failure == null) {
                succeeded(part);
            } else if (part.size() == 1) {
                failedAlone(part.get(0), failure);
            } else {
                bisect(part);
            }
        }
    }

    private Throwable call(List<Item> items) {
        List<Envelope<?>> envelopes = new ArrayList<>(items.size());
        for (Item i : items) {
            envelopes.add(i.envelope);
        }
        try {
            subscriber.invokeBatch(envelopes);
            return null;
        } catch (Throwable t) {
            return t;
        }
    }

    private static void succeeded(List<Item> items) {
        for (Item i : items) {
            i.finished(null, i.attempt);
        }
    }

    /** An event that fails alone: a first delivery has used its immediate retries (as a single event would). */
    private void failedAlone(Item item, Throwable failure) {
        int used = retry.isRetriable(failure) ? Math.max(item.attempt, 1 + retry.immediateRetries()) : item.attempt;
        item.finished(failure, Math.min(used, Math.max(item.attempt, retry.maxAttempts())));
    }

    // ------------------------------------------------------------------------------------------------ lifecycle

    /** From now on, waiting events are handed over at once (closing: nothing waits for its batch to fill). */
    void flush() {
        flushing = true;
        for (Lane lane : lanes) {
            List<Item> run = null;
            synchronized (lane) {
                if (!lane.running && !lane.waiting.isEmpty()) {
                    run = take(lane);
                }
            }
            if (run != null) {
                execute(lane, run);
            }
        }
    }

    /** Stops taking events; events never handed over are {@linkplain Item#abandoned abandoned}. */
    void close() {
        closed = true;
        for (Lane lane : lanes) {
            List<Item> left;
            synchronized (lane) {
                left = new ArrayList<>(lane.waiting);
                lane.waiting.clear();
                lane.notifyAll();
            }
            left.forEach(Item::abandoned);
        }
    }

    /** Waits until no call runs and nothing waits, or {@code deadline} (nanoTime); returns whether idle. */
    boolean awaitIdle(long deadline) {
        for (Lane lane : lanes) {
            synchronized (lane) {
                while (lane.running || !lane.waiting.isEmpty() && flushing) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        return false;
                    }
                    try {
                        lane.wait(Math.max(1, left / 1_000_000));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return false;
                    }
                }
            }
        }
        return true;
    }

    /** Events waiting for a batch now (not counting running calls). */
    int waiting() {
        int n = 0;
        for (Lane lane : lanes) {
            synchronized (lane) {
                n += lane.waiting.size();
            }
        }
        return n;
    }

    private static final class Lane {
        final ArrayList<Item> waiting = new ArrayList<>();
        boolean running;
        Thread runner;
        boolean timerArmed;
    }

    /** The threads of a bus's batch subscribers: one timer thread, and a pool for wait-triggered calls. */
    static final class Scheduler {
        final java.util.concurrent.ScheduledThreadPoolExecutor timers;
        final java.util.concurrent.ThreadPoolExecutor runners;

        Scheduler(String service) {
            timers = new java.util.concurrent.ScheduledThreadPoolExecutor(1,
                    new dev.eventbus.internal.DaemonThreadFactory("eventbus-" + service + "-batch-timer"));
            timers.setRemoveOnCancelPolicy(true);
            // At most one call per lane runs here, so the pool is bounded by the lanes of all batch subscribers.
            runners = new java.util.concurrent.ThreadPoolExecutor(0, Integer.MAX_VALUE, 30, TimeUnit.SECONDS,
                    new java.util.concurrent.SynchronousQueue<>(),
                    new dev.eventbus.internal.DaemonThreadFactory("eventbus-" + service + "-batch"));
        }

        void shutdown() {
            timers.shutdownNow();
            runners.shutdown();
        }
    }
}
