package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.TransportMessage;

/** A row to write when the cursor passes a message (or when a retry settles). */
record CursorWrite(Kind kind, long retryId, int partition, TransportMessage message, int attempt,
                   long visibleAt, String reason) {
    enum Kind { INSERT_RETRY, UPDATE_RETRY, DELETE_RETRY, INSERT_DEAD }
}
