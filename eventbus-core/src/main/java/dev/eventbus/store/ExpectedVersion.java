package dev.eventbus.store;

/**
 * What an append expects of its stream, as EventStoreDB has it: {@link #any()} (no check), {@link #noStream()}
 * (the stream must not exist yet) or {@link #exactly(long)} (the stream's last event must have that version).
 *
 * <p>Versions here count events: a stream's first event has version 1, and a stream's version is the version of
 * its last event (0 for a stream without events, so {@code exactly(0)} is the same as {@code noStream()}).
 * EventStoreDB's revisions start at 0 instead: its revision {@code r} is version {@code r + 1} here.
 *
 * <p>Immutable and thread-safe.
 */
public final class ExpectedVersion {

    private static final ExpectedVersion ANY = new ExpectedVersion(-2);
    private static final ExpectedVersion NO_STREAM = new ExpectedVersion(0);

    private final long value;

    private ExpectedVersion(long value) {
        this.value = value;
    }

    /** No check: append at the end of the stream, whatever its version (creating it if needed). */
    public static ExpectedVersion any() {
        return ANY;
    }

    /** The stream must not exist (have no events) yet. */
    public static ExpectedVersion noStream() {
        return NO_STREAM;
    }

    /**
     * The stream's current version must be {@code version} (0: no stream yet).
     *
     * @throws IllegalArgumentException when {@code version} is negative
     */
    public static ExpectedVersion exactly(long version) {
        if (version < 0) {
            throw new IllegalArgumentException("expected version must be 0 (no stream) or more, was " + version);
        }
        return version == 0 ? NO_STREAM : new ExpectedVersion(version);
    }

    /** True for {@link #any()}. */
    public boolean isAny() {
        return value == -2;
    }

    /** The version expected; meaningless for {@link #any()} (returns -1 there). */
    public long version() {
        return value < 0 ? -1 : value;
    }

    /** True when a stream at {@code actual} satisfies this expectation. */
    public boolean matches(long actual) {
        return isAny() || actual == value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ExpectedVersion e && e.value == value;
    }

    @Override
    public int hashCode() {
        return Long.hashCode(value);
    }

    @Override
    public String toString() {
        return isAny() ? "any" : value == 0 ? "no stream" : Long.toString(value);
    }
}
