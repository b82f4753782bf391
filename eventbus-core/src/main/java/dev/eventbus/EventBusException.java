package dev.eventbus;

/**
 * The root of every exception this library throws on its own account (programmer errors stay
 * {@link IllegalArgumentException} and {@link IllegalStateException}).
 *
 * <p>{@link #isRetriable()} tells a transient failure (broker unreachable, timeout) that may succeed when
 * tried again from one that will not (a message the broker refused, an event that cannot be serialized).
 */
public class EventBusException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final boolean retriable;

    public EventBusException(String message) {
        this(message, null, false);
    }

    public EventBusException(String message, Throwable cause) {
        this(message, cause, false);
    }

    public EventBusException(String message, Throwable cause, boolean retriable) {
        super(message, cause);
        this.retriable = retriable;
    }

    /** True when the same operation may succeed if tried again later. */
    public boolean isRetriable() {
        return retriable;
    }
}
