package dev.eventbus.kafka.internal;

import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * Offset bookkeeping of one assigned partition: the records polled from it and not yet decided, in offset order,
 * and what to commit.
 *
 * <p>The committed offset is the first undecided record's, never beyond it. The records decided beyond it go into
 * the commit's metadata ({@link FinishedOffsets}), and a new owner reads them back ({@link #decidedEarlier}) and
 * skips them, so a rebalance or restart handles again only the records that were running or queued.
 *
 * <p>Poll thread only, except {@link #revoked} and {@link #sending} (workers and producer callbacks).
 */
final class PartitionState {
    final TopicPartition tp;
    final boolean retry;
    /** Outcomes of this partition settling in a producer callback. */
    final AtomicInteger sending = new AtomicInteger();
    volatile boolean revoked;
    /** {@code topic-partition@}, so a delivery's origin costs one concatenation. */
    final String origin;

    Work head;
    Work tail;
    int size;
    /** One past the last polled offset; -1 before the first poll and before the start is known. */
    long nextOffset = -1;
    long committed = -1;
    String committedMetadata = "";
    boolean paused;
    /** Offsets an earlier owner decided beyond the committed offset (read from its commit), or null. */
    private FinishedOffsets.Decided decidedEarlier;

    PartitionState(TopicPartition tp, boolean retry) {
        this.tp = tp;
        this.retry = retry;
        this.origin = tp.topic() + "-" + tp.partition() + "@";
    }

    /** Starts from a committed offset and its metadata. @return the number of offsets an earlier owner decided */
    int startFrom(OffsetAndMetadata c) {
        committed = c.offset();
        committedMetadata = c.metadata() == null ? "" : c.metadata();
        nextOffset = c.offset();
        decidedEarlier = FinishedOffsets.decode(c.offset(), c.metadata());
        return decidedEarlier == null ? 0 : decidedEarlier.count();
    }

    /** True when an earlier owner already decided this offset: the record is not handled again. */
    boolean decidedEarlier(long offset) {
        FinishedOffsets.Decided d = decidedEarlier;
        if (d == null) {
            return false;
        }
        if (offset >= d.end()) {
            decidedEarlier = null; // polled past all of them
            return false;
        }
        return d.contains(offset);
    }

    void append(Work w) {
        if (tail == null) {
            head = w;
        } else {
            tail.next = w;
        }
        tail = w;
        size++;
    }

    /** Drops decided records from the head of the list. */
    void advance() {
        while (head != null && head.done) {
            Work next = head.next;
            head.next = null;
            head = next;
            size--;
        }
        if (head == null) {
            tail = null;
        }
    }

    /**
     * What to commit now, or null when it was committed already.
     *
     * @param position the consumer's position when nothing is undecided (past transaction markers), or -1
     */
    OffsetAndMetadata committable(long position) {
        long offset;
        String metadata;
        if (head != null) {
            offset = head.record.offset();
            FinishedOffsets.Encoder e = FinishedOffsets.encoder(offset);
            for (Work w = head.next; w != null && !e.full(); w = w.next) {
                if (w.done) {
                    e.add(w.record.offset());
                }
            }
            addNotYetPolled(e);
            metadata = e.finish();
        } else {
            offset = Math.max(nextOffset, position);
            FinishedOffsets.Encoder e = FinishedOffsets.encoder(offset);
            addNotYetPolled(e);
            metadata = e.finish();
        }
        if (offset < 0 || offset < committed || (offset == committed && metadata.equals(committedMetadata))) {
            return null;
        }
        return new OffsetAndMetadata(offset, metadata);
    }

    /** Offsets an earlier owner decided that this one has not polled yet: carried on, or a crash would lose them. */
    private void addNotYetPolled(FinishedOffsets.Encoder e) {
        FinishedOffsets.Decided d = decidedEarlier;
        if (d == null) {
            return;
        }
        long from = Math.max(nextOffset, d.base() + 1);
        for (int i = d.bits().nextSetBit((int) Math.max(1, from - d.base())); i >= 0; i = d.bits().nextSetBit(i + 1)) {
            e.add(d.base() + i);
        }
    }

    void committed(OffsetAndMetadata o) {
        committed = o.offset();
        committedMetadata = o.metadata();
    }

    /** A failed asynchronous commit: commit again next time, unless a later one went out meanwhile. */
    void commitFailed(OffsetAndMetadata o) {
        if (committed == o.offset() && committedMetadata.equals(o.metadata())) {
            committed = -1;
            committedMetadata = "";
        }
    }
}
