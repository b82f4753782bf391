package dev.eventbus.spi;

import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * The fate of one delivery: acknowledge it, redeliver it after a delay, or dead-letter it.
 *
 * <p>Immutable and thread-safe.
 */
public final class Outcome {

    /** What the transport must do. */
    public enum Kind {
        /** Done: acknowledge / commit past it. */
        ACK,
        /** Redeliver no earlier than {@link #delay()}, without blocking the messages behind it. */
        RETRY,
        /** Give up: move to the dead-letter destination with the reason. */
        DEAD
    }

    private static final Outcome ACK = new Outcome(Kind.ACK, Duration.ZERO, null, null, Map.of());

    private final Kind kind;
    private final Duration delay;
    private final String reason;
    private final Throwable cause;
    private final Map<String, String> headers;

    private Outcome(Kind kind, Duration delay, String reason, Throwable cause, Map<String, String> headers) {
        this.kind = kind;
        this.delay = delay;
        this.reason = reason;
        this.cause = cause;
        this.headers = headers;
    }

    /** The message was handled. */
    public static Outcome ack() {
        return ACK;
    }

    /**
     * Redeliver after {@code delay}.
     *
     * @param headers headers to merge into the redelivered message (attempt bookkeeping); a null value removes
     */
    public static Outcome retry(Duration delay, Throwable cause, Map<String, String> headers) {
        Objects.requireNonNull(delay, "delay");
        if (delay.isNegative()) {
            throw new IllegalArgumentException("retry delay must not be negative: " + delay);
        }
        return new Outcome(Kind.RETRY, delay, cause == null ? "retry" : String.valueOf(cause), cause,
                headers == null ? Map.of() : Map.copyOf(headers));
    }

    /**
     * Dead-letter the message.
     *
     * @param reason  a sentence for the operator, never null
     * @param headers the dead-letter headers ({@link MessageHeaders#DLQ_REASON} and friends) to merge into it
     */
    public static Outcome dead(String reason, Throwable cause, Map<String, String> headers) {
        Objects.requireNonNull(reason, "reason");
        return new Outcome(Kind.DEAD, Duration.ZERO, reason, cause, headers == null ? Map.of() : Map.copyOf(headers));
    }

    public Kind kind() {
        return kind;
    }

    /** For {@code RETRY}: the minimum time before redelivery; zero otherwise. */
    public Duration delay() {
        return delay;
    }

    /** For {@code DEAD} and {@code RETRY}: why; null for {@code ACK}. */
    public String reason() {
        return reason;
    }

    /** The failure behind a {@code RETRY} or {@code DEAD}, if any. */
    public Throwable cause() {
        return cause;
    }

    /** Headers to merge into the message before it is redelivered or dead-lettered. */
    public Map<String, String> headers() {
        return headers;
    }

    @Override
    public String toString() {
        return switch (kind) {
            case ACK -> "ACK";
            case RETRY -> "RETRY(after " + delay.toMillis() + " ms)";
            case DEAD -> "DEAD(" + reason + ")";
        };
    }
}
