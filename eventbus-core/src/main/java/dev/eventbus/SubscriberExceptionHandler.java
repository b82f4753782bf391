package dev.eventbus;

/**
 * Told about every exception a subscriber throws (each attempt), with where and how often. The retry policy and
 * dead letters still apply: this is for logging and alerting, not for deciding.
 *
 * <p>Called on the subscriber's thread; must be thread-safe and must not throw (what it throws is logged and
 * ignored).
 */
@FunctionalInterface
public interface SubscriberExceptionHandler {

    void handleException(Throwable exception, Context context);

    /**
     * Where a subscriber failed.
     *
     * @param subscriberId   stable id, {@code com.acme.Inventory#onPlaced(OrderPlaced)}
     * @param subscriber     the object the method belongs to (null for lambda subscribers)
     * @param method         the method (null for lambda subscribers)
     * @param willRetry      whether the policy will try again
     */
    record Context(EventBus bus, Envelope<?> envelope, String group, String subscriberId, Object subscriber,
                   java.lang.reflect.Method method, int attempt, boolean willRetry) {
    }
}
