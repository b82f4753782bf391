package dev.eventbus;

import java.util.concurrent.atomic.LongAdder;

/**
 * A bus's shared counters, behind {@link EventBus#stats()}. The in-memory fast path counts on its threads' own
 * state instead ({@link FastPath}), so that a publish makes no shared write. Thread-safe.
 */
final class Counters {
    final LongAdder published = new LongAdder();
    final LongAdder delivered = new LongAdder();
    final LongAdder failures = new LongAdder();
    final LongAdder retries = new LongAdder();
    final LongAdder deadLettered = new LongAdder();
    final LongAdder deadEvents = new LongAdder();
    final LongAdder skipped = new LongAdder();
    final LongAdder unknownTypes = new LongAdder();
    final LongAdder duplicates = new LongAdder();
    /** Messages a subscription's {@link Filter} rejected (acknowledged without being handled). */
    final LongAdder filtered = new LongAdder();
}
