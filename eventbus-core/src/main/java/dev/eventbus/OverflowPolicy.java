package dev.eventbus;

/**
 * What an asynchronous dispatcher does when its bounded queue is full. Every overflow is counted in
 * {@link EventBus.Stats}, whatever the policy.
 */
public enum OverflowPolicy {
    /** Wait for room, up to the configured timeout, then fail the publish. The default. */
    BLOCK,
    /**
     * Let the publishing thread do the work: it takes over the full lane and handles queued events (in order)
     * until there is room. Slows the publisher down to the consumer's pace without ever failing.
     */
    CALLER_RUNS,
    /** Fail the publish at once with an {@link EventBusException}. */
    FAIL
}
