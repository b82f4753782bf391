package dev.eventbus.spi;

/**
 * A message handed by a transport to a {@link MessageHandler}.
 *
 * <p>Immutable and thread-safe.
 *
 * @param message the message as it was sent (plus any headers a redelivery added)
 * @param attempt 1 for the first delivery of this message to this group, 2 for the first redelivery, and so on
 * @param origin  where the transport found it, for diagnostics and dead-letter headers
 *                (e.g. {@code orders-2@1734}); never null, may be empty
 */
public record Delivery(TransportMessage message, int attempt, String origin) {
    public Delivery {
        if (attempt < 1) {
            throw new IllegalArgumentException("attempt must be >= 1, was " + attempt);
        }
        if (origin == null) {
            origin = "";
        }
    }
}
