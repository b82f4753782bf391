package dev.eventbus;

/**
 * The handle returned by {@link EventBus#register(Object)} and {@link EventBus#subscribe}: closing it
 * unregisters the subscribers it stands for. Thread-safe and idempotent; does not block on handlers in flight.
 */
public interface Registration extends AutoCloseable {

    /** Unregisters. Events already handed to the subscribers may still be delivered to them. */
    void unregister();

    @Override
    default void close() {
        unregister();
    }
}
