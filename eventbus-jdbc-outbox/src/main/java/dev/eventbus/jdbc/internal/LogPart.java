package dev.eventbus.jdbc.internal;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * A partition this member of a group holds: its committed cursor, how far it has read, the messages in flight in
 * read order, and the retry and dead-letter writes that go with the next cursor move. Poller thread only.
 */
final class LogPart {
    final int partition;
    final int epoch;
    long committed;
    long fetched;
    boolean revoking;
    final ArrayDeque<LogEntry> inflight = new ArrayDeque<>();
    final List<CursorWrite> writes = new ArrayList<>();

    LogPart(int partition, long position, int epoch) {
        this.partition = partition;
        this.committed = position;
        this.fetched = position;
        this.epoch = epoch;
    }

    long target() {
        return inflight.isEmpty() ? fetched : inflight.peekFirst().seq - 1;
    }

    boolean idle() {
        return inflight.isEmpty() && writes.isEmpty() && committed >= fetched;
    }
}
