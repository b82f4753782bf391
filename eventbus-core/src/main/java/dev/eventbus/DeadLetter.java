package dev.eventbus;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;

import java.time.Instant;
import java.util.Objects;

/**
 * A message that a consumer group gave up on, with why. Listed by {@link EventBus#deadLetters()} and replayed
 * through it.
 *
 * <p>Immutable and thread-safe.
 *
 * @param id       the transport's handle for it (a DLT offset, a row id, ...), used to replay or delete it
 * @param group    the consumer group that gave up
 * @param message  the original message with the dead-letter headers ({@link MessageHeaders}{@code .DLQ_*})
 * @param reason   why, in a sentence
 * @param deadAt   when it was dead-lettered
 */
public record DeadLetter(String id, String group, TransportMessage message, String reason, Instant deadAt) {
    public DeadLetter {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(message, "message");
    }

    /** The stream the message was read from before it was dead-lettered. */
    public String originalStream() {
        String s = message.header(MessageHeaders.DLQ_ORIGINAL_STREAM);
        return s == null ? message.stream() : s;
    }

    /** The exception class of the last failure, or null. */
    public String exceptionClass() {
        return message.header(MessageHeaders.DLQ_EXCEPTION);
    }

    /** How many times a handler was invoked, or 0 when unknown. */
    public int attempts() {
        String a = message.header(MessageHeaders.ATTEMPTS);
        try {
            return a == null ? 0 : Integer.parseInt(a);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /** The event's wire type name. */
    public String type() {
        return message.type();
    }
}
