package dev.eventbus;

/**
 * A subscriber as a lambda that takes the event's {@link Envelope}:
 * {@code bus.subscribeEnvelopes(OrderPlaced.class, "billing", env -> bill(env.event(), env.correlationId()))}.
 *
 * <p>Called on a bus or transport thread; may throw, with the same effect as a throwing {@link Subscribe} method.
 */
@FunctionalInterface
public interface EnvelopeHandler<E> {
    void handle(Envelope<E> envelope) throws Exception;
}
