package dev.eventbus.store;

import dev.eventbus.EventBusException;

import java.util.List;
import java.util.Optional;

/**
 * Stores events per stream (one stream per aggregate) with optimistic concurrency, and in one global order.
 *
 * <pre>{@code
 * long v = store.append("account-42", ExpectedVersion.noStream(), List.of(new Opened("42", "Ann")));
 * store.append("account-42", ExpectedVersion.exactly(v), List.of(new Deposited("42", 100)));
 * for (RecordedEvent<?> e : store.read("account-42", 1)) { ... }
 * }</pre>
 *
 * <p>Each event is encoded exactly as {@code EventBus.publish} would send it ({@code EventBus.messageFor}: publish
 * interceptors, serializer, CloudEvents headers, {@code subject} = stream id, correlation and causation ids from
 * the event being handled, if any) and decoded as a subscriber would receive it, so upcasters registered on the
 * bus apply to old events read from the store.
 *
 * <p><b>Global order.</b> Every event gets a position, 1 for the first; positions have no gaps, and an event with a
 * smaller position is visible no later than one with a larger: a reader that tails {@link #readAll} by position
 * never skips an event that commits after it read past it. Implementations document how they guarantee that, and
 * may give positions a little after the commit (then {@link #read} shows position 0 until {@link #readAll} or
 * {@link #headPosition} has run).
 *
 * <p>Implementations are thread-safe. Calls block for the storage's I/O. Failures are {@link EventBusException}s
 * ({@link EventBusException#isRetriable()} tells a lost connection from a bad event).
 */
public interface EventStore {

    /**
     * Appends {@code events} to the end of the stream, atomically: all or none.
     *
     * @param streamId non-blank; becomes each event's {@code subject}
     * @param expected the stream's version the caller decided on
     * @param events   one or more events
     * @return the stream's new version (the version of the last event appended)
     * @throws ConcurrencyException     when the stream is not at {@code expected}; nothing was appended
     * @throws IllegalArgumentException when {@code events} is empty or the stream id is blank
     * @throws EventBusException        when an event cannot be encoded or the storage fails
     */
    long append(String streamId, ExpectedVersion expected, List<?> events);

    /**
     * The events of one stream from version {@code fromVersion} (inclusive; 1 for all) in version order, or an
     * empty list for a stream that does not exist.
     *
     * @throws EventBusException when an event cannot be decoded (e.g. its type is not registered on the bus) or the
     *                           storage fails
     */
    List<RecordedEvent<?>> read(String streamId, long fromVersion);

    /**
     * At most {@code max} events of all streams from position {@code fromPosition} (inclusive; 1 for all) in
     * position order. A short (or empty) result means the reader is at the head for now.
     *
     * @throws EventBusException as {@link #read}
     */
    List<RecordedEvent<?>> readAll(long fromPosition, int max);

    /** The position of the last committed event (0: none). */
    long headPosition();

    /** The stream's current version (0: no such stream). */
    long streamVersion(String streamId);

    /**
     * Stores {@code snapshot} as the stream's latest, replacing an older one (a snapshot older than the one stored
     * is ignored). The state is written as JSON.
     *
     * @throws EventBusException when the state cannot be written or the storage fails
     */
    void saveSnapshot(Snapshot<?> snapshot);

    /**
     * The stream's latest snapshot read as {@code stateType}, or empty when there is none or it cannot be read as
     * {@code stateType} any more (the state class changed: the caller folds from the first event instead).
     */
    <S> Optional<Snapshot<S>> loadSnapshot(String streamId, Class<S> stateType);
}
