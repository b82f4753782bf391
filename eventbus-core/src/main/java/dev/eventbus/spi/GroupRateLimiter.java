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
     * Blocks the calling thread, without spinning, until {@code group} may handle one more message. Returns at once
     * for a group without a limit and after {@link #close()}. If the thread is interrupted it returns with the
     * interrupt flag set (the message is then handled, not lost). Never throws for a limiter outage: an
     * implementation that depends on a server falls back to a local limit instead.
     */
    void acquire(String group);

    /** Wakes every waiting {@link #acquire} (they return) and releases connections and threads. Does not block long. */
    @Override
    void close();
}
