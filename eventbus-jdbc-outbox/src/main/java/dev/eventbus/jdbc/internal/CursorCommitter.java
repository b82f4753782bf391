package dev.eventbus.jdbc.internal;

import dev.eventbus.jdbc.internal.CursorWrite.Kind;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.TransportMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The bookkeeping step of a subscription: turns settled outcomes into writes (a retry row for {@code RETRY} and
 * for a handler that threw, a dead letter for {@code DEAD} and for an unreadable row) and commits each partition's
 * cursor past the longest prefix of settled messages together with those writes, in one transaction, at most every
 * {@code commit-interval} (at once when there are writes). Poller thread only.
 */
final class CursorCommitter {

    private static final Logger log = LoggerFactory.getLogger(LogSubscription.class);
    /** Redelivery delay when a handler threw instead of returning an outcome. */
    static final long CRASH_DELAY_MS = 100;

    private final SubscriptionState st;
    private final PartitionLeases leases;
    private final LogDispatcher dispatcher;

    CursorCommitter(SubscriptionState st, PartitionLeases leases, LogDispatcher dispatcher) {
        this.st = st;
        this.leases = leases;
        this.dispatcher = dispatcher;
    }

    /** Whether a cursor could move or writes wait: the poller must not sleep past the commit interval then. */
    boolean hasDirty() {
        if (!st.retryWrites.isEmpty()) {
            return true;
        }
        for (LogPart p : st.parts.values()) {
            if (p.target() > p.committed || !p.writes.isEmpty()) {
                return true;
            }
        }
        return false;
    }

    /** Moves settled outcomes into pending writes. */
    void settle(long now) {
        for (LogPart p : st.parts.values()) {
            while (!p.inflight.isEmpty() && p.inflight.peekFirst().done) {
                LogEntry e = p.inflight.pollFirst();
                CursorWrite w = writeFor(e, p.partition, now);
                if (w != null) {
                    p.writes.add(w);
                }
            }
        }
        RetryEntry r;
        while ((r = dispatcher.retriesDone.poll()) != null) {
            if (r.ignored || st.retries.remove(r.id) == null) {
                continue;
            }
            Outcome o = r.outcome;
            if (r.crashed || o == null) {
                st.retryWrites.add(new CursorWrite(Kind.UPDATE_RETRY, r.id, r.partition, r.message, r.attempt + 1,
                        now + CRASH_DELAY_MS, null));
                st.nextRetryCheck = Math.min(st.nextRetryCheck, now + CRASH_DELAY_MS);
                continue;
            }
            switch (o.kind()) {
                case ACK:
                    st.retryWrites.add(new CursorWrite(Kind.DELETE_RETRY, r.id, r.partition, null, 0, 0, null));
                    break;
                case RETRY:
                    long at = now + o.delay().toMillis();
                    st.retryWrites.add(new CursorWrite(Kind.UPDATE_RETRY, r.id, r.partition,
                            r.message.withHeaders(o.headers()), r.attempt + 1, at, null));
                    st.nextRetryCheck = Math.min(st.nextRetryCheck, at);
                    break;
                case DEAD:
                default:
                    st.retryWrites.add(new CursorWrite(Kind.INSERT_DEAD, 0, r.partition,
                            deadMessage(r.message, o.reason(), o.headers(), r.origin, now), 0, now, o.reason()));
                    st.retryWrites.add(new CursorWrite(Kind.DELETE_RETRY, r.id, r.partition, null, 0, 0, null));
                    break;
            }
        }
    }

    /** When the next unreadable-row WARN may be logged, and how many were suppressed since the last one. */
    private long nextUnreadableLog;
    private long unreadableSuppressed;

    private CursorWrite writeFor(LogEntry e, int partition, long now) {
        if (e.undecodable != null) {
            // Dead-lettered one by one, logged at most every 10 s (a flood of bad rows must not flood the log).
            if (now >= nextUnreadableLog) {
                log.warn("group '{}' on '{}' dead-lettered unreadable log row {}: {}{}", st.request.group(),
                        st.request.stream(), e.origin, e.undecodable, unreadableSuppressed == 0 ? ""
                                : " (" + unreadableSuppressed + " similar lines suppressed)");
                nextUnreadableLog = now + 10_000;
                unreadableSuppressed = 0;
            } else {
                unreadableSuppressed++;
            }
            return new CursorWrite(Kind.INSERT_DEAD, 0, partition,
                    deadMessage(e.message, e.undecodable, Map.of(), e.origin, now), 0, now, e.undecodable);
        }
        if (e.deferUntil > 0) {
            st.nextRetryCheck = Math.min(st.nextRetryCheck, e.deferUntil);
            return new CursorWrite(Kind.INSERT_RETRY, 0, partition, e.message.withDeliverAt(null), 1, e.deferUntil,
                    null);
        }
        Outcome o = e.outcome;
        if (e.crashed || o == null) {
            st.nextRetryCheck = Math.min(st.nextRetryCheck, now + CRASH_DELAY_MS);
            return new CursorWrite(Kind.INSERT_RETRY, 0, partition, e.message, 2, now + CRASH_DELAY_MS, null);
        }
        switch (o.kind()) {
            case ACK:
                return null;
            case RETRY:
                long at = now + o.delay().toMillis();
                st.nextRetryCheck = Math.min(st.nextRetryCheck, at);
                return new CursorWrite(Kind.INSERT_RETRY, 0, partition, e.message.withHeaders(o.headers()), 2, at,
                        null);
            case DEAD:
            default:
                return new CursorWrite(Kind.INSERT_DEAD, 0, partition,
                        deadMessage(e.message, o.reason(), o.headers(), e.origin, now), 0, now, o.reason());
        }
    }

    private TransportMessage deadMessage(TransportMessage m, String reason, Map<String, String> outcomeHeaders,
                                         String origin, long now) {
        Map<String, String> h = new LinkedHashMap<>(outcomeHeaders);
        h.putIfAbsent(MessageHeaders.DLQ_REASON, reason);
        h.put(MessageHeaders.DLQ_GROUP, st.request.group());
        h.put(MessageHeaders.DLQ_ORIGINAL_STREAM, st.request.stream());
        h.put(MessageHeaders.DLQ_ORIGIN, origin);
        h.put(MessageHeaders.DLQ_TIME, Instant.ofEpochMilli(now).toString());
        return m.withHeaders(h);
    }

    /**
     * Commits cursor moves and the writes they carry, when due (or when forced), in one transaction; a cursor row
     * is only moved under this member's ownership and epoch.
     *
     * @return the partitions whose cursor could not be moved: taken over or moved by a replay meanwhile
     */
    List<LogPart> flush(Connection c, long now, boolean force) throws SQLException {
        List<LogPart> dirty = new ArrayList<>();
        boolean urgent = !st.retryWrites.isEmpty();
        for (LogPart p : st.parts.values()) {
            if (p.target() > p.committed || !p.writes.isEmpty()) {
                dirty.add(p);
                urgent |= !p.writes.isEmpty();
            }
        }
        if (dirty.isEmpty() && st.retryWrites.isEmpty()) {
            return List.of();
        }
        if (!force && !urgent && now - st.lastCommit < st.store.settings.commitInterval().toMillis()) {
            return List.of();
        }
        Map<LogPart, Long> targets = new HashMap<>();
        for (LogPart p : dirty) {
            targets.put(p, p.target());
        }
        // Losing this in a database crash only means redelivering what it settled (at least once).
        Set<LogPart> lost = Jdbc.inBookkeepingTransaction(c, st.store.dialect, x -> {
            Set<LogPart> gone = new HashSet<>();
            try (PreparedStatement ps = x.prepareStatement("UPDATE " + st.store.settings.cursor()
                    + " SET position = ?, updated_at = ? WHERE group_name = ? AND stream = ? AND partition_no = ?"
                    + " AND owner = ? AND epoch = ?")) {
                for (LogPart p : dirty) {
                    long target = targets.get(p);
                    if (target <= p.committed) {
                        continue;
                    }
                    ps.setLong(1, target);
                    ps.setLong(2, now);
                    ps.setString(3, st.request.group());
                    ps.setString(4, st.request.stream());
                    ps.setInt(5, p.partition);
                    ps.setString(6, leases.memberId());
                    ps.setInt(7, p.epoch);
                    if (ps.executeUpdate() != 1) {
                        gone.add(p);
                    }
                }
            }
            List<CursorWrite> writes = new ArrayList<>(st.retryWrites);
            for (LogPart p : dirty) {
                if (!gone.contains(p)) {
                    writes.addAll(p.writes);
                }
            }
            execute(x, writes);
            return gone;
        });
        st.lastCommit = now;
        st.retryWrites.clear();
        List<LogPart> out = new ArrayList<>();
        for (LogPart p : dirty) {
            if (lost.contains(p)) {
                log.info("group '{}' on stream '{}': partition {} was taken over before its cursor was committed;"
                        + " the new owner redelivers from its last commit", st.request.group(), st.request.stream(),
                        p.partition);
                out.add(p);
            } else {
                p.committed = Math.max(p.committed, targets.get(p));
                p.writes.clear();
            }
        }
        return out;
    }

    private void execute(Connection c, List<CursorWrite> writes) throws SQLException {
        if (writes.isEmpty()) {
            return;
        }
        TransportSettings s = st.store.settings;
        PreparedStatement insertRetry = null;
        PreparedStatement updateRetry = null;
        PreparedStatement deleteRetry = null;
        PreparedStatement insertDead = null;
        try {
            for (CursorWrite w : writes) {
                switch (w.kind()) {
                    case INSERT_RETRY:
                        if (insertRetry == null) {
                            insertRetry = c.prepareStatement("INSERT INTO " + s.retry() + " (group_name, stream,"
                                    + " partition_no, msg_key, headers, body, priority, attempt, visible_at,"
                                    + " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
                        }
                        insertRetry.setString(1, st.request.group());
                        insertRetry.setString(2, st.request.stream());
                        insertRetry.setInt(3, w.partition());
                        insertRetry.setString(4, w.message().key());
                        insertRetry.setString(5, HeaderCodec.encode(w.message().headers(), null, null));
                        insertRetry.setBytes(6, w.message().body());
                        insertRetry.setInt(7, w.message().priority());
                        insertRetry.setInt(8, w.attempt());
                        insertRetry.setLong(9, w.visibleAt());
                        insertRetry.setLong(10, System.currentTimeMillis());
                        insertRetry.addBatch();
                        break;
                    case UPDATE_RETRY:
                        if (updateRetry == null) {
                            updateRetry = c.prepareStatement("UPDATE " + s.retry()
                                    + " SET headers = ?, attempt = ?, visible_at = ? WHERE id = ?");
                        }
                        updateRetry.setString(1, HeaderCodec.encode(w.message().headers(), null, null));
                        updateRetry.setInt(2, w.attempt());
                        updateRetry.setLong(3, w.visibleAt());
                        updateRetry.setLong(4, w.retryId());
                        updateRetry.addBatch();
                        break;
                    case DELETE_RETRY:
                        if (deleteRetry == null) {
                            deleteRetry = c.prepareStatement("DELETE FROM " + s.retry() + " WHERE id = ?");
                        }
                        deleteRetry.setLong(1, w.retryId());
                        deleteRetry.addBatch();
                        break;
                    case INSERT_DEAD:
                    default:
                        if (insertDead == null) {
                            insertDead = c.prepareStatement("INSERT INTO " + s.deadLetter() + " (group_name,"
                                    + " dead_at, reason, stream, msg_key, event_id, event_type, headers, body,"
                                    + " priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
                        }
                        insertDead.setString(1, st.request.group());
                        insertDead.setLong(2, w.visibleAt());
                        insertDead.setString(3, w.reason() == null ? "" : w.reason());
                        bindDead(insertDead, 4, w.message());
                        insertDead.addBatch();
                        break;
                }
            }
            for (PreparedStatement ps : new PreparedStatement[] {insertRetry, updateRetry, deleteRetry, insertDead}) {
                if (ps != null) {
                    ps.executeBatch();
                }
            }
        } finally {
            Jdbc.closeQuietly(insertRetry);
            Jdbc.closeQuietly(updateRetry);
            Jdbc.closeQuietly(deleteRetry);
            Jdbc.closeQuietly(insertDead);
        }
    }

    /** stream, msg_key, event_id, event_type, headers, body, priority (dead letters have no deliver_at). */
    private static void bindDead(PreparedStatement ps, int i, TransportMessage m) throws SQLException {
        ps.setString(i++, m.stream());
        ps.setString(i++, m.key());
        ps.setString(i++, m.header(MessageHeaders.ID));
        ps.setString(i++, m.header(MessageHeaders.TYPE));
        ps.setString(i++, HeaderCodec.encode(m.headers(), MessageHeaders.ID, MessageHeaders.TYPE));
        ps.setBytes(i++, m.body());
        ps.setInt(i, m.priority());
    }
}
