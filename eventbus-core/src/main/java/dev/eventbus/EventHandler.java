package dev.eventbus;

/**
 * A subscriber as a lambda: {@code bus.subscribe(OrderPlaced.class, e -> ship(e))}.
 *
 * <p>Called on a bus or transport thread; may throw, with the same effect as a throwing {@link Subscribe} method.
 */
@FunctionalInterface
public interface EventHandler<E> {
    void handle(E event) throws Exception;
}
