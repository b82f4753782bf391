package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.TransportMessage;

/** A log row being handled: written by its handler's thread, read by the poller. */
final class LogEntry {
    final long seq;
    final TransportMessage message;
    final String origin;
    volatile Outcome outcome;
    volatile boolean crashed;
    volatile boolean done;
    volatile boolean ignored;
    long deferUntil;
    String undecodable;

    LogEntry(long seq, TransportMessage message, String origin) {
        this.seq = seq;
        this.message = message;
        this.origin = origin;
    }
}
