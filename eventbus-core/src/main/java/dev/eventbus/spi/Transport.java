package dev.eventbus.spi;

import dev.eventbus.DeadLetter;
import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayNotSupportedException;
import dev.eventbus.ReplayResult;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * Carries messages between buses: sends {@link TransportMessage}s and delivers them to subscribed
 * {@link MessageHandler}s, acting on the {@link Outcome} each handler returns.
 *
 * <h2>Contract</h2>
 * <ul>
 *   <li>Every group subscribed to a stream gets every message sent to it; within a group, subscriptions
 *       (on this or other instances) compete, if {@link Capability#COMPETING_CONSUMERS} is declared.</li>
 *   <li>A message is acknowledged only after its outcome is decided; on {@code RETRY} it is redelivered no
 *       earlier than asked, with the attempt one higher, without holding up the messages behind it; on
 *       {@code DEAD} it moves to the group's dead-letter destination with the outcome's headers.</li>
 *   <li>{@link #send} completes when the message is durably accepted (broker confirm, committed row,
 *       enqueued in memory) and completes exceptionally with the reason when it is not.</li>
 * </ul>
 *
 * <p>Optional abilities are declared in {@link #capabilities()}; the shared contract suite in the core
 * test-jar ({@code TransportContract}) checks every transport against this contract.
 *
 * <p>Thread-safety: all methods may be called from any thread. Lifecycle: a transport is created started;
 * {@link #close(Duration)} releases its threads and connections and must be called.
 */
public interface Transport extends AutoCloseable {

    /** The name it is selected by, e.g. {@code memory}, {@code kafka}. */
    String name();

    /** The optional abilities this transport has. */
    Set<Capability> capabilities();

    /**
     * Sends one message. Does not block on the network (it may block briefly when the client's buffer is
     * full). The future fails with an {@link dev.eventbus.EventBusException} (retriable or not) when the
     * message was not accepted.
     */
    CompletableFuture<Void> send(TransportMessage message);

    /**
     * Sends several messages in one go. A transport with {@link Capability#TRANSACTIONAL_BATCH} makes them
     * visible all together or not at all; others send them one by one and the future fails if any failed.
     */
    default CompletableFuture<Void> sendBatch(List<TransportMessage> messages) {
        CompletableFuture<?>[] futures = new CompletableFuture<?>[messages.size()];
        for (int i = 0; i < futures.length; i++) {
            futures[i] = send(messages.get(i));
        }
        return CompletableFuture.allOf(futures);
    }

    /**
     * Subscribes a group to a stream. Blocks until the subscription is set up on the broker (queues bound,
     * consumer created); messages may start arriving before it returns.
     *
     * @throws dev.eventbus.EventBusException when the broker refuses
     */
    TransportSubscription subscribe(SubscriptionRequest request, MessageHandler handler);

    /**
     * The dead letters of this transport, when it declares {@link Capability#DEAD_LETTER_STORE}.
     *
     * @throws UnsupportedOperationException otherwise
     */
    default DeadLetterStore deadLetters() {
        throw new UnsupportedOperationException("the " + name() + " transport cannot list dead letters");
    }

    /**
     * Moves {@code group}'s position on {@code stream} to {@code from}, when the transport declares
     * {@link Capability#REPLAY}: the group then handles every message from there on again. What the bus's
     * {@link dev.eventbus.EventBus#replay(String, ReplayFrom)} calls for each stream a group reads.
     *
     * <p>Contract: the new position is durable when this returns (committed offsets, cursor rows), and running
     * subscriptions of the group in this transport continue from it: messages they had in flight are not
     * acknowledged past it (a handler already running finishes, and its message is handled again when it lies
     * after the new position). Retries already waiting (a retry topic, a retry table) and dead letters are not
     * moved. Where the transport cannot move partitions that other instances hold, it refuses with an
     * {@link IllegalStateException} before moving anything. Blocks on the broker or database.
     *
     * @return one move per partition
     * @throws ReplayNotSupportedException when the transport has no {@link Capability#REPLAY}: always, and without
     *                                     side effect (the default)
     * @throws dev.eventbus.EventBusException when the broker or database fails
     */
    default ReplayResult replay(String group, String stream, ReplayFrom from) {
        throw new ReplayNotSupportedException(name(), "it keeps no messages once they are consumed");
    }

    /**
     * Stops all subscriptions (as {@link TransportSubscription#close(Duration)}), flushes what was sent and
     * releases every resource. Blocks up to about {@code timeout}. Idempotent.
     */
    void close(Duration timeout);

    /** {@link #close(Duration)} with a 30-second timeout. */
    @Override
    default void close() {
        close(Duration.ofSeconds(30));
    }

    /** A message parked in a dead-letter destination, as a transport stores it. */
    interface DeadLetterStore {
        /**
         * Up to {@code limit} dead letters of {@code group} (all groups when null), oldest first. Blocks on I/O.
         */
        List<DeadLetter> list(String group, int limit);

        /**
         * Sends the dead letter back to its original stream for its group (bookkeeping headers cleared) and
         * removes it from the dead-letter destination. Blocks until the resend is accepted.
         *
         * @return false when no such dead letter exists (already replayed or removed)
         */
        boolean replay(DeadLetter deadLetter);
    }
}
