package dev.eventbus.internal;

import dev.eventbus.ConsumeInterceptor;

/**
 * How an idempotency interceptor (the JDBC inbox) reports a duplicate it skipped, so that it shows in the bus's
 * {@code stats().duplicates()}: the bus's consume chains implement it. Internal: not part of the API, and may
 * change without notice. Thread-safe.
 */
public interface DuplicateCounter {

    /** Counts one duplicate on the bus this chain belongs to. */
    void countDuplicate();

    /** Counts a duplicate on {@code chain}'s bus; a chain that is not the bus's (a test's own) is left alone. */
    static void count(ConsumeInterceptor.Chain chain) {
        if (chain instanceof DuplicateCounter c) {
            c.countDuplicate();
        }
    }
}
