package dev.eventbus.jdbc.internal.relay;

/** What became of one row's send in a round. */
public record SendResult(Kind kind, Throwable error) {

    public enum Kind {
        /** The target acknowledged it. */
        SENT,
        /** The target refused it, or the row cannot be read. */
        FAILED,
        /** Not sent: an older row of its key failed, or the round ended first. Left as it was. */
        SKIPPED
    }

    static final SendResult SENT = new SendResult(Kind.SENT, null);
    static final SendResult SKIPPED = new SendResult(Kind.SKIPPED, null);
}
