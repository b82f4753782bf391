package dev.eventbus.fault;

import dev.eventbus.EventBus;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Publishes {@link Tick}s from its own thread at a steady pace, through an outage and after it, and remembers each
 * publish's future: when it was made, when it completed, and how. The broker cases compare what was confirmed
 * with what was consumed.
 */
final class SteadyPublisher implements AutoCloseable {

    /** One publish: its id, when it was made, and its outcome once completed. */
    static final class Sent {
        final String id;
        final long sentNanos;
        final CompletableFuture<Void> future;
        volatile long completedNanos;
        volatile Throwable failure;

        Sent(String id, long sentNanos, CompletableFuture<Void> future) {
            this.id = id;
            this.sentNanos = sentNanos;
            this.future = future;
            future.whenComplete((v, e) -> {
                failure = e;
                completedNanos = System.nanoTime();
            });
        }

        boolean confirmed() {
            return future.isDone() && !future.isCompletedExceptionally();
        }
    }

    private final EventBus bus;
    private final int keys;
    private final long intervalMillis;
    private final List<Sent> sent = new ArrayList<>();
    private final Thread thread;
    private volatile boolean stop;

    SteadyPublisher(EventBus bus, int keys, long intervalMillis) {
        this.bus = bus;
        this.keys = keys;
        this.intervalMillis = intervalMillis;
        this.thread = new Thread(this::run, "fault-steady-publisher");
        thread.setDaemon(true);
        thread.start();
    }

    private void run() {
        long seq = 0;
        while (!stop) {
            Tick t = new Tick("k" + (seq % keys), seq, System.nanoTime());
            seq++;
            CompletableFuture<Void> f;
            try {
                f = bus.publish(t);
            } catch (RuntimeException e) {
                f = CompletableFuture.failedFuture(e);
            }
            synchronized (sent) {
                sent.add(new Sent(t.id(), t.sentNanos(), f));
            }
            try {
                Thread.sleep(intervalMillis);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** Stops publishing and waits (up to {@code timeout}) until every publish's future completed. */
    List<Sent> stopAndAwait(Duration timeout) throws InterruptedException {
        stop = true;
        thread.join(TimeUnit.SECONDS.toMillis(30));
        List<Sent> all = sent();
        long deadline = System.nanoTime() + timeout.toNanos();
        for (Sent s : all) {
            try {
                s.future.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (java.util.concurrent.ExecutionException failed) {
                // counted by the caller
            } catch (java.util.concurrent.TimeoutException e) {
                throw new AssertionError("a publish's future did not complete within " + timeout + " after the "
                        + "publisher stopped (it must fail after the transport's publish timeout): " + s.id);
            }
        }
        return all;
    }

    int count() {
        synchronized (sent) {
            return sent.size();
        }
    }

    List<Sent> sent() {
        synchronized (sent) {
            return new ArrayList<>(sent);
        }
    }

    static Set<String> confirmedIds(List<Sent> all) {
        return all.stream().filter(Sent::confirmed).map(s -> s.id).collect(Collectors.toSet());
    }

    @Override
    public void close() {
        stop = true;
        thread.interrupt();
    }
}
