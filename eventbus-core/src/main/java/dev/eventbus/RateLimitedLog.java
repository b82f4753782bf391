package dev.eventbus;

import org.slf4j.Logger;

import java.util.concurrent.atomic.AtomicLong;

/**
 * A WARN line at most once per interval, with the count of lines suppressed since the last one, so a flood of bad
 * messages (each one dead-lettered and counted) cannot flood the log. Thread-safe, non-blocking.
 */
final class RateLimitedLog {

    private final Logger log;
    private final long intervalNanos;
    private final AtomicLong next = new AtomicLong(Long.MIN_VALUE);
    private final AtomicLong suppressed = new AtomicLong();

    RateLimitedLog(Logger log, long intervalMillis) {
        this.log = log;
        this.intervalNanos = intervalMillis * 1_000_000L;
    }

    /** Logs {@code format} at WARN unless a line was logged within the interval; then counts it as suppressed. */
    void warn(String format, Object... args) {
        long now = System.nanoTime();
        long due = next.get();
        if ((due != Long.MIN_VALUE && now - due < 0) || !next.compareAndSet(due, now + intervalNanos)) {
            suppressed.incrementAndGet();
            return;
        }
        long skipped = suppressed.getAndSet(0);
        if (skipped > 0 && log.isWarnEnabled()) {
            log.warn(format + " (" + skipped + " similar lines suppressed)", args);
        } else {
            log.warn(format, args);
        }
    }
}
