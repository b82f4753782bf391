package dev.eventbus.store;

import java.util.Objects;

/**
 * An aggregate's state as loaded from its stream, and the version it was loaded at: {@link
 * AggregateRepository#save} appends with exactly that version, so a concurrent change is detected.
 *
 * <p>Immutable and thread-safe as long as the state is.
 *
 * @param streamId the stream id
 * @param state    the state folded from the stream's events (the initial state for a new stream)
 * @param version  the stream's version it was folded up to (0: no stream yet)
 * @param <S>      the state type
 */
public record Aggregate<S>(String streamId, S state, long version) {

    public Aggregate {
        Objects.requireNonNull(streamId, "streamId");
        Objects.requireNonNull(state, "state");
    }

    /** True when the stream had no events. */
    public boolean isNew() {
        return version == 0;
    }
}
