package dev.eventbus.store;

import dev.eventbus.Envelope;

import java.util.Objects;

/**
 * An event as the store holds it: its stream, its version in that stream, its position in the store's global
 * order, and the same envelope a subscriber of the published event receives (id, type, subject = stream id,
 * time, correlation and causation ids, headers), upcast to the current version of its class.
 *
 * <p>Immutable and thread-safe (as long as the event is).
 *
 * @param streamId the stream (aggregate) id
 * @param version  1 for the stream's first event, 2 for the next, and so on
 * @param position the store-wide position: 1 for the first event in the global order; gap-free. 0 for an event
 *                 read by {@link EventStore#read} before the store placed it in the global order (the JDBC store
 *                 does so when {@link EventStore#readAll} or {@link EventStore#headPosition} next runs)
 * @param envelope the event and its metadata
 * @param <E>      the event type
 */
public record RecordedEvent<E>(String streamId, long version, long position, Envelope<E> envelope) {

    public RecordedEvent {
        Objects.requireNonNull(streamId, "streamId");
        Objects.requireNonNull(envelope, "envelope");
    }

    /** The event itself. */
    public E event() {
        return envelope.event();
    }
}
