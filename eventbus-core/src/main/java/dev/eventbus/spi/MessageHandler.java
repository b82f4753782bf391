package dev.eventbus.spi;

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
     * Whether the handler's bus knows this event type (a class is registered for it), asked by transports that
     * skip types the group does not subscribe to without decoding them: a known type the group does not want may
     * be skipped, an unknown one must be handed to {@link #handle} so it follows the bus's unknown-type policy
     * (dead letter by default) instead of disappearing. Cheap and thread-safe; the default knows every type.
     */
    default boolean knowsType(String type) {
        return true;
    }
}
