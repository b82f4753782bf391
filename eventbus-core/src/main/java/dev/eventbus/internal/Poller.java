package dev.eventbus.internal;

import org.slf4j.Logger;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * One daemon thread running a task every interval until closed, for the projectors of every store. A failing run
 * is logged and tried again at the next interval, so one bad batch never stops the thread. Thread-safe; close is
 * idempotent and waits up to 10 s for a running task, then interrupts it.
 */
public final class Poller implements AutoCloseable {

    private final ScheduledExecutorService executor;

    /**
     * Starts polling at once.
     *
     * @param name what the log line and the thread are called after (e.g. {@code projector-balances})
     */
    public Poller(String name, Duration interval, Logger log, Runnable task) {
        long ms = Math.max(1, interval.toMillis());
        executor = Executors.newSingleThreadScheduledExecutor(new DaemonThreadFactory("eventbus-" + name));
        executor.scheduleWithFixedDelay(() -> {
            try {
                task.run();
            } catch (RuntimeException e) {
                log.warn("{} failed, retrying in {} ms: {}", name, ms, e.toString());
            }
        }, 0, ms, TimeUnit.MILLISECONDS);
    }

    @Override
    public void close() {
        executor.shutdown();
        try {
            if (!executor.awaitTermination(10, TimeUnit.SECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
