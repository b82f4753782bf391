package dev.eventbus.spi;

/**
 * The consumer rate limits of one bus, made by a {@link RateLimiterProvider}: the bus calls {@link #acquire} on the
 * consumer's own thread before each handling of a group that has a limit, so a limited group's consumers wait
 * and its messages stay in the broker (backpressure), never dropped.
 *
 * <p>Thread-safety: {@link #acquire} is called from many consumer threads at once. Lifecycle: owned by the bus,
 * which calls {@link #close()} first thing in its own {@code close()}, before it drains the handlers in flight.
 */
public interface GroupRateLimiter extends AutoCloseable {

    /**
     * Blocks the calling thread, without spinning, until {@code group} may handle one more message.
     *
     * @return true when the message may be handled: a permit came, the group has no limit, or the thread was
     *         interrupted (it returns with the interrupt flag set); false once {@link #close()} was called and the
     *         permit does not come within a short grace (a second or so): the bus then leaves a broker's message
     *         unacknowledged, to be delivered again, and handles an in-memory one.
     *         Never throws for a limiter outage: an implementation that depends on a server falls back to a local
     *         limit instead.
     */
    boolean acquire(String group);

    /**
     * Ends every wait within the grace (see {@link #acquire}) and releases connections and threads. Blocks for a few
     * seconds at most.
     */
    @Override
    void close();
}
