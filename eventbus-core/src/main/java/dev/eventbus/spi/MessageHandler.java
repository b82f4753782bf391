package dev.eventbus.spi;

import java.util.concurrent.CompletableFuture;

/**
 * Receives messages from a transport subscription and decides each one's fate.
 *
 * <p>The transport calls {@link #handle} and acts on the returned {@link Outcome} before it counts the
 * message as done: {@code ACK} acknowledges it, {@code RETRY} redelivers it no earlier than the given delay
 * with {@link Delivery#attempt()} one higher and the outcome's headers merged in, {@code DEAD} moves it to the
 * group's dead-letter destination with the outcome's headers merged in.
 *
 * <p>If {@code handle} throws, the transport must treat the message as not acknowledged and redeliver it
 * (the bus never lets a subscriber's exception escape, so this only happens on a bug or a crash).
 *
 * <p>Thread-safety: a transport may call one handler from several threads at once, but never concurrently for
 * two messages of the same key on one stream when the subscription asked for per-key order.
 */
@FunctionalInterface
public interface MessageHandler {
    /**
     * Handles one message. May block for as long as the subscriber needs.
     *
     * @return what to do with the message; never null
     */
    Outcome handle(Delivery delivery);

    /**
     * Handles one message whose outcome may be decided later: for subscriptions whose request has
     * {@link SubscriptionRequest#deferredOutcomes()} (batch subscribers, which hold messages until a batch is full or
     * its wait is over). The transport acts on the outcome when the future completes, exactly as on
     * {@link #handle}'s, and meanwhile keeps handing over the next messages, still one key after the other: per-key
     * order means the calls are made in order, not that the outcomes come in order. A future completed
     * exceptionally counts as not acknowledged (redelivered), like a {@code handle} that throws. Messages whose
     * future is still pending when the subscription closes stay unacknowledged.
     *
     * <p>The call itself may block (the handler pushes back while its batches are full), and the future may complete
     * on any thread, possibly before this method returns. Default: {@link #handle}'s outcome, already complete.
     */
    default CompletableFuture<Outcome> handleAsync(Delivery delivery) {
        return CompletableFuture.completedFuture(handle(delivery));
    }

    /**
     * Whether the handler's bus knows this event type (a class is registered for it), asked by transports that
     * skip types the group does not subscribe to without decoding them: a known type the group does not want may
     * be skipped, an unknown one must be handed to {@link #handle} so it follows the bus's unknown-type policy
     * (dead letter by default) instead of disappearing. Cheap and thread-safe; the default knows every type.
     */
    default boolean knowsType(String type) {
        return true;
    }

    /**
     * Told by a transport that skipped {@code message} because {@link SubscriptionRequest#filter()} rejects it
     * (push-down), and acknowledged it without calling {@link #handle}: the bus counts it as filtered. Cheap and
     * thread-safe; the default does nothing.
     */
    default void filteredOut(TransportMessage message) {
    }
}
