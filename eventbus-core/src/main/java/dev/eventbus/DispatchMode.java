package dev.eventbus;

/** How an {@link EventBus} hands events published to the in-memory transport to its own subscribers. */
public enum DispatchMode {
    /**
     * On the publishing thread, before {@code publish} returns (like Guava's {@code EventBus}). The fastest; a
     * slow subscriber slows the publisher. The default.
     */
    SYNC,
    /**
     * On the bus's worker threads through bounded, per-key ordered queues (see {@link OverflowPolicy}); publish
     * returns once the event is queued.
     */
    ASYNC
}
