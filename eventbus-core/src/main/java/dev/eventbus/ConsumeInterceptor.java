package dev.eventbus;

/**
 * Wraps every invocation of a subscriber, OkHttp style: call {@link Chain#proceed()} at most once to run the rest
 * of the chain and finally the subscriber. Not calling it skips the subscriber and counts the event as handled
 * (how an inbox drops duplicates). An exception thrown here counts as the subscriber's failure and goes to the
 * {@link RetryPolicy}.
 *
 * <p>One chain per subscriber invocation, on the thread that runs the subscriber. Must be thread-safe.
 */
@FunctionalInterface
public interface ConsumeInterceptor {

    void intercept(Chain chain) throws Exception;

    /** The rest of the chain for one subscriber invocation. */
    interface Chain {
        /** The event and its metadata. */
        Envelope<?> envelope();

        /** The consumer group of the subscriber. */
        String group();

        /** The subscriber's id, stable across restarts: {@code com.acme.Inventory#onPlaced(OrderPlaced)}. */
        String subscriberId();

        /**
         * Where the transport found the message, named after the OpenTelemetry messaging semantic conventions
         * (partition, offset and key on Kafka, routing key on RabbitMQ: see {@code dev.eventbus.spi.Delivery}).
         * Empty for in-memory dispatch and for transports that expose nothing. Never null, read-only.
         */
        default java.util.Map<String, String> deliveryAttributes() {
            return java.util.Map.of();
        }

        /** Runs the rest of the chain. At most once; a second call throws {@link IllegalStateException}. */
        void proceed() throws Exception;
    }
}
