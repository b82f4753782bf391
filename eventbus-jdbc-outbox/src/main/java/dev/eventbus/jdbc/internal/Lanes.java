package dev.eventbus.jdbc.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * {@code n} worker threads, each with its own queue: tasks with the same key go to the same worker and run in
 * submission order (per-key order), different keys run in parallel. Unkeyed tasks, or all tasks when order is
 * not asked for, go round-robin.
 */
public final class Lanes {

    private static final Logger log = LoggerFactory.getLogger(Lanes.class);
    private static final Runnable STOP = () -> { };

    private final Worker[] workers;
    private final boolean ordered;
    private final AtomicInteger roundRobin = new AtomicInteger();
    private final AtomicInteger running = new AtomicInteger();

    public Lanes(String name, int n, boolean ordered) {
        this.ordered = ordered;
        this.workers = new Worker[n];
        for (int i = 0; i < n; i++) {
            workers[i] = new Worker(name + "-" + (i + 1));
            workers[i].thread.start();
        }
    }

    public void submit(String key, Runnable task) {
        int i = key == null || !ordered
                ? Math.floorMod(roundRobin.getAndIncrement(), workers.length)
                : Partitioner.partition(key, workers.length);
        workers[i].queue.add(task);
    }

    /** Tasks running right now. */
    public int running() {
        return running.get();
    }

    /** Drops every task not yet started and returns how many were dropped; running ones go on. */
    public int dropQueued() {
        int n = 0;
        for (Worker w : workers) {
            List<Runnable> out = new ArrayList<>();
            w.queue.drainTo(out);
            n += out.size();
        }
        return n;
    }

    /** Lets the workers end once their current task is done (they are daemons, so a stuck one does not block exit). */
    public void stop() {
        for (Worker w : workers) {
            w.queue.clear();
            w.queue.add(STOP);
        }
    }

    private final class Worker {
        final LinkedBlockingQueue<Runnable> queue = new LinkedBlockingQueue<>();
        final Thread thread;

        Worker(String name) {
            thread = new Thread(this::run, name);
            thread.setDaemon(true);
        }

        void run() {
            while (true) {
                Runnable r;
                try {
                    r = queue.take();
                } catch (InterruptedException e) {
                    return;
                }
                if (r == STOP) {
                    return;
                }
                running.incrementAndGet();
                try {
                    r.run();
                } catch (Throwable t) {
                    log.error("{}: task failed unexpectedly", thread.getName(), t);
                } finally {
                    running.decrementAndGet();
                }
            }
        }
    }
}
