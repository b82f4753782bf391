package dev.eventbus.ratelimit.internal;

import io.github.resilience4j.ratelimiter.RateLimiter;
import io.github.resilience4j.ratelimiter.RateLimiterConfig;

import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Waiting for a permit without spinning, and the Resilience4j limiters behind every local limit. One per limiter
 * object; its {@link #close()} wakes every waiter at once. Thread-safe.
 */
final class Pacing {

    /** Long enough that a reservation is never refused: the consumer must wait, not drop. */
    private static final Duration NEVER_REFUSE = Duration.ofDays(1);

    /** The shortest refresh cycle: the burst a limit allows, and how late a consumer may wake without losing rate. */
    static final long CYCLE_NANOS = 50_000_000;

    /**
     * After {@link #close()}, how long a handling may still wait for its permit. Its transport is closing meanwhile:
     * a message whose permit comes later is left to the broker, unhandled, without spinning through redeliveries.
     */
    static final long CLOSE_GRACE_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final CountDownLatch closed = new CountDownLatch(1);
    /** nanoTime at which waits end once closed; written before {@link #closed} opens. */
    private volatile long closeDeadline;

    boolean isClosed() {
        return closed.getCount() == 0;
    }

    void close() {
        closeDeadline = System.nanoTime() + CLOSE_GRACE_NANOS;
        closed.countDown();
    }

    /**
     * Sleeps {@code nanos}; true when the wait ended with the permit due. Once closed, waits end by the close grace:
     * false then for a permit due later. An interrupt ends the wait with the flag set and true: the message is then
     * handled rather than left.
     */
    boolean sleep(long nanos) {
        long due = System.nanoTime() + nanos;
        try {
            if (nanos > 0 && !closed.await(nanos, TimeUnit.NANOSECONDS)) {
                return true;
            }
            if (!isClosed()) {
                return true;
            }
            long deadline = closeDeadline;
            boolean inTime = due - deadline <= 0;
            long rest = (inTime ? due : deadline) - System.nanoTime();
            if (rest > 0) {
                TimeUnit.NANOSECONDS.sleep(rest);
            }
            return inTime;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return true;
        }
    }

    /**
     * Reserves one permit of {@code limiter} and sleeps until it is due: see {@link #sleep} for what it returns.
     */
    boolean acquire(RateLimiter limiter) {
        while (!Thread.currentThread().isInterrupted()) {
            long wait = limiter.reservePermission();
            if (wait >= 0) {
                return sleep(wait);
            }
            if (isClosed()) {
                return false;
            }
            sleep(TimeUnit.MILLISECONDS.toNanos(100)); // refused (a day of reservations ahead): try again later
        }
        return true;
    }

    /**
     * A Resilience4j limiter allowing {@code perSecond} permits a second in cycles of about 50 ms (one permit per
     * cycle for rates of 20/s or less): a consumer that wakes late still finds its cycle's permits, so a loaded
     * machine does not lose rate, and no whole second's permits arrive in one burst.
     */
    static RateLimiter limiter(String name, double perSecond) {
        double intervalNanos = 1e9 / perSecond;
        int perCycle = 1;
        if (intervalNanos < CYCLE_NANOS) {
            perCycle = (int) Math.ceil(CYCLE_NANOS / intervalNanos);
        }
        long cycle = Math.max(1, Math.round(intervalNanos * perCycle));
        return RateLimiter.of(name, RateLimiterConfig.custom()
                .limitForPeriod(perCycle)
                .limitRefreshPeriod(Duration.ofNanos(cycle))
                .timeoutDuration(NEVER_REFUSE)
                .build());
    }
}
