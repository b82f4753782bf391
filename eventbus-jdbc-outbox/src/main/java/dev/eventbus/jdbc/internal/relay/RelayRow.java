package dev.eventbus.jdbc.internal.relay;

import dev.eventbus.spi.TransportMessage;

/** One outbox row claimed for a round. Used by the relay thread, and read by the send thread. */
public final class RelayRow {
    public long id;
    public int keyHash;
    public String status;
    public String key;
    /** Null when the row cannot be read ({@link #undecodable} says why). */
    public TransportMessage message;
    public String undecodable;
    public int attempts;
    public long nextAttemptAt;

    /** The outbox partition of the row ({@code key_hash mod partitions}). */
    public int partition(int partitions) {
        return keyHash % partitions;
    }
}
