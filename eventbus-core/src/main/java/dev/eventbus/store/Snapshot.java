package dev.eventbus.store;

import java.util.Objects;

/**
 * An aggregate's state as of one version of its stream, so loading it folds only the events after that version.
 * A snapshot is a cache: losing one costs a longer load, never correctness.
 *
 * <p>Immutable and thread-safe as long as the state is.
 *
 * @param streamId the stream it summarises
 * @param version  the version of the last event folded into {@code state}
 * @param state    the state
 * @param <S>      the state type
 */
public record Snapshot<S>(String streamId, long version, S state) {

    public Snapshot {
        Objects.requireNonNull(streamId, "streamId");
        Objects.requireNonNull(state, "state");
        if (version < 1) {
            throw new IllegalArgumentException("a snapshot's version must be 1 or more, was " + version);
        }
    }
}
