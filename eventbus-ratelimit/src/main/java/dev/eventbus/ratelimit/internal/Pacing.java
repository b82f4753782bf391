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

    private final CountDownLatch closed = new CountDownLatch(1);

    boolean isClosed() {
        return closed.getCount() == 0;
    }

    void close() {
        closed.countDown();
    }

    /**
     * Sleeps {@code nanos} unless closed first (then returns at once). An interrupt ends the wait with the flag set:
     * the message is then handled rather than lost.
     */
    void sleep(long nanos) {
        if (nanos <= 0) {
            return;
        }
        try {
            closed.await(nanos, TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Reserves one permit of {@code limiter} and sleeps until it is due. */
    void acquire(RateLimiter limiter) {
        while (!isClosed() && !Thread.currentThread().isInterrupted()) {
            long wait = limiter.reservePermission();
            if (wait >= 0) {
                sleep(wait);
                return;
            }
            sleep(TimeUnit.MILLISECONDS.toNanos(100)); // refused (a day of reservations ahead): try again later
        }
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
