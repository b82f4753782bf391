package dev.eventbus.store;

import dev.eventbus.EventBusException;

/**
 * An append found its stream at another version than it expected: someone else appended first. Load the stream
 * again, decide again, and append with the new version. Not retriable as such: the same append fails again.
 */
public class ConcurrencyException extends EventBusException {
    private static final long serialVersionUID = 1L;

    private final String streamId;
    private final ExpectedVersion expected;
    private final long actual;

    public ConcurrencyException(String streamId, ExpectedVersion expected, long actual) {
        super("stream '" + streamId + "' is at version " + (actual < 0 ? "unknown" : Long.toString(actual))
                + ", the append expected " + expected + ": another writer appended first; load the stream again "
                + "and retry");
        this.streamId = streamId;
        this.expected = expected;
        this.actual = actual;
    }

    /** The stream appended to. */
    public String streamId() {
        return streamId;
    }

    /** What the append expected. */
    public ExpectedVersion expected() {
        return expected;
    }

    /** The stream's version when the append was refused (0: no stream), or -1 when the store could not tell. */
    public long actual() {
        return actual;
    }
}
