package dev.eventbus;

/**
 * Where a consumer waits for its group's rate limit ({@code eventbus.group.<group>.rate}): before each handling, on
 * the consumer's own thread, so a limited group's messages wait upstream (in the broker, or in the async lanes and
 * the publisher in memory). The limiter itself comes from a module ({@link dev.eventbus.spi.GroupRateLimiter}).
 */
final class RateGate {

    private RateGate() {
    }

    /**
     * Waits for a permit of {@code s}'s group. False when the bus's limiter was closed (the bus is closing) before a
     * permit came: a transport delivery is then left to the broker ({@link #leftToBroker}), a local one handled.
     */
    static boolean await(EventBus bus, Subscriber s) {
        return bus.rateLimiter == null || bus.rateLimiter.acquire(s.group);
    }

    /**
     * Thrown out of {@link dev.eventbus.spi.MessageHandler#handle} for a delivery that was still waiting for its
     * permit when the bus closed: per the handler contract the transport does not acknowledge it, so it is
     * delivered again (RabbitMQ requeues it; Kafka and JDBC retry it after a short backoff).
     */
    static EventBusException leftToBroker(String group) {
        return new EventBusException("event bus closing while group '" + group + "' waited for its rate limit: the "
                + "message is left unacknowledged, to be delivered again", null) {
            @Override
            public synchronized Throwable fillInStackTrace() {
                return this; // an expected exit at close, not a bug: no stack trace in the transport's log line
            }
        };
    }
}
