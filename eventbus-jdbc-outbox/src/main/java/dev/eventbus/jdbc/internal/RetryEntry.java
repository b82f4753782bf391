package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.TransportMessage;

/** A retry-table row being handled: written by its handler's thread, read by the poller. */
final class RetryEntry {
    final long id;
    final int partition;
    final TransportMessage message;
    final int attempt;
    final String origin;
    volatile Outcome outcome;
    volatile boolean crashed;
    volatile boolean ignored;

    RetryEntry(long id, int partition, TransportMessage message, int attempt, String origin) {
        this.id = id;
        this.partition = partition;
        this.message = message;
        this.attempt = attempt;
        this.origin = origin;
    }
}
