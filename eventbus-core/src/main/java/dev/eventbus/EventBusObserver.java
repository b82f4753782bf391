package dev.eventbus;

/**
 * Told what a bus did with each publish and each subscriber invocation, for metrics and tracing modules
 * ({@code eventbus-micrometer}, {@code eventbus-opentelemetry}). Attach one with {@link EventBus#observe}.
 *
 * <h2>What is reported</h2>
 * <ul>
 *   <li>{@link #published}: every publish that runs the publish chain: sends to a transport, and in-memory
 *       publishes with options, interceptors or serialization. Not the in-memory fast paths (synchronous or
 *       asynchronous, no options, no interceptors), which stay free of clocks and calls: {@link EventBus#stats()}
 *       counts those. Not the messages of {@link EventBus#publishAll} batches nor {@link EventBus#messageFor}.</li>
 *   <li>{@link #handled}: every subscriber invocation on a transport delivery and on in-memory dispatch with
 *       interceptors, options or serialization, with the bus's decision; on the in-memory fast paths, only
 *       failures (their successes are the publish: nothing is measured there).</li>
 * </ul>
 *
 * <h2>Threading</h2>
 * Called synchronously: {@code handled} on the thread that ran the subscriber, right after the bus decided the
 * outcome of that invocation (before the next subscriber runs); {@code published} on the thread that completes
 * the send (the publisher's for in-memory sends, a transport's I/O thread for brokers). Implementations must be
 * thread-safe, fast and must not block. An exception thrown here is logged and ignored. Observers are not closed
 * by the bus.
 */
public interface EventBusObserver {

    /** What the bus decided for one subscriber invocation. */
    enum Handling {
        /** The subscriber succeeded (or an interceptor skipped it, e.g. a duplicate). */
        ACK,
        /** It failed and will be tried again (at once or by a delayed redelivery). */
        RETRY,
        /** It failed for the last time: the event goes to the dead letters for this subscriber. */
        DEAD
    }

    /**
     * A publish completed.
     *
     * @param envelope  the envelope as it entered the publish chain
     * @param transport the name of the transport it was routed to, e.g. {@code memory}, {@code kafka}
     * @param nanos     from the start of the publish chain to the completion of the send
     * @param failure   why the publish failed, or null when it succeeded
     */
    default void published(Envelope<?> envelope, String transport, long nanos, Throwable failure) {
    }

    /**
     * One subscriber invocation ended and the bus decided its outcome.
     *
     * @param envelope     the envelope the subscriber got ({@link Envelope#attempt()} tells which attempt)
     * @param transport    the name of the transport that delivered it
     * @param group        the subscriber's consumer group
     * @param subscriberId the subscriber's id
     * @param outcome      what happens next
     * @param nanos        how long the invocation took, or -1 when it was not measured (the first attempt on an
     *                     in-memory fast path)
     * @param failure      what the subscriber threw, or null for {@link Handling#ACK}
     */
    default void handled(Envelope<?> envelope, String transport, String group, String subscriberId,
                         Handling outcome, long nanos, Throwable failure) {
    }
}
