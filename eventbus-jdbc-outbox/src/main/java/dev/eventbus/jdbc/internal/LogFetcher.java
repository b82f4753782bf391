package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.TransportMessage;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The reading step of a subscription: reads the committed log past the cursors of the partitions this member
 * holds (the committed head first, then only rows up to it, so nothing can appear behind a cursor later), and the
 * retry rows that are due. Rows of types nobody here wants are acknowledged unread, delayed ones are parked in the
 * retry table, unreadable ones are dead-lettered; the rest go to {@link LogDispatcher}. Poller thread only.
 */
final class LogFetcher {

    private final SubscriptionState st;
    private final PartitionLeases leases;
    private final LogDispatcher dispatcher;
    private final Supplier<Set<String>> types;

    LogFetcher(SubscriptionState st, PartitionLeases leases, LogDispatcher dispatcher, Supplier<Set<String>> types) {
        this.st = st;
        this.leases = leases;
        this.dispatcher = dispatcher;
        this.types = types;
    }

    /** Reads log rows past the cursors of the partitions held (not revoking) and dispatches them; returns how many. */
    int fetchLog(Connection c, long now) throws SQLException {
        List<Integer> activeParts = new ArrayList<>();
        long from = Long.MAX_VALUE;
        for (LogPart p : st.parts.values()) {
            if (!p.revoking) {
                activeParts.add(p.partition);
                from = Math.min(from, p.fetched);
            }
        }
        if (activeParts.isEmpty()) {
            return 0;
        }
        long head = st.store.head(c, st.request.stream());
        if (head <= from) {
            return 0;
        }
        boolean all = activeParts.size() == leases.partitions();
        int limit = st.store.settings.fetchSize();
        String sql = "SELECT seq, partition_no, stream, msg_key, event_id, event_type, headers, body, deliver_at,"
                + " priority FROM " + st.store.settings.log() + " WHERE stream = ? AND seq > ? AND seq <= ?"
                + (all ? "" : " AND " + Jdbc.inList(st.store.dialect, "partition_no", activeParts.size()))
                + " ORDER BY seq LIMIT " + limit;
        int rows = 0;
        int fresh = 0;
        long last = from;
        Set<String> wanted = types.get();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, st.request.stream());
            ps.setLong(2, from);
            ps.setLong(3, head);
            if (!all) {
                Jdbc.bindInts(st.store.dialect, c, ps, 4, activeParts);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows++;
                    long seq = rs.getLong(1);
                    last = seq;
                    LogPart part = st.parts.get(rs.getInt(2));
                    if (part == null || part.revoking || seq <= part.fetched) {
                        continue;
                    }
                    part.fetched = seq;
                    fresh++;
                    String origin = st.request.stream() + "-" + part.partition + "@" + seq;
                    LogEntry e;
                    try {
                        e = new LogEntry(seq, Rows.read(rs, 3), origin);
                    } catch (IllegalArgumentException bad) {
                        e = new LogEntry(seq, raw(rs), origin);
                        e.undecodable = "the log row cannot be read: " + bad.getMessage();
                    }
                    part.inflight.addLast(e);
                    TransportMessage m = e.message;
                    if (e.undecodable != null) {
                        e.done = true;
                    } else if (!wanted.isEmpty() && m.type() != null && !wanted.contains(m.type())
                            && dispatcher.knowsType(m.type())) {
                        // A type the bus knows but no subscriber here wants; an unknown type goes to the handler,
                        // which applies the bus's unknown-type policy (dead letter by default).
                        e.outcome = Outcome.ack();
                        e.done = true;
                    } else if (st.request.filter() != null && !st.request.filter().matches(m)) {
                        // Push-down: no subscriber of the group wants it; acknowledged without decoding.
                        e.outcome = Outcome.ack();
                        e.done = true;
                        dispatcher.filteredOut(m);
                    } else if (m.deliverAt() != null && m.deliverAt().toEpochMilli() > now) {
                        e.deferUntil = m.deliverAt().toEpochMilli();
                        e.done = true;
                    } else {
                        dispatcher.dispatch(e);
                    }
                }
            }
        }
        long horizon = rows < limit ? head : last;
        for (LogPart p : st.parts.values()) {
            if (!p.revoking && p.fetched < horizon) {
                p.fetched = horizon;
            }
        }
        return fresh;
    }

    private TransportMessage raw(ResultSet rs) throws SQLException {
        byte[] body = rs.getBytes("body");
        Map<String, String> h = new LinkedHashMap<>();
        String id = rs.getString("event_id");
        if (id != null) {
            h.put(MessageHeaders.ID, id);
        }
        String type = rs.getString("event_type");
        if (type != null) {
            h.put(MessageHeaders.TYPE, type);
        }
        return TransportMessage.of(st.request.stream(), rs.getString("msg_key"), h, body == null ? new byte[0] : body);
    }

    /**
     * Reads due retry rows of the partitions held, claims each for one lease (so they come back if this instance
     * dies: a visibility timeout) and dispatches them; returns how many.
     */
    int fetchRetries(Connection c, long now) throws SQLException {
        if (now < st.nextRetryCheck) {
            return 0;
        }
        List<Integer> activeParts = new ArrayList<>();
        for (LogPart p : st.parts.values()) {
            if (!p.revoking) {
                activeParts.add(p.partition);
            }
        }
        st.nextRetryCheck = now + st.store.settings.pollMax().toMillis();
        if (activeParts.isEmpty()) {
            return 0;
        }
        int limit = st.store.settings.fetchSize();
        String sql = "SELECT id, partition_no, msg_key, headers, body, priority, attempt FROM "
                + st.store.settings.retry() + " WHERE group_name = ? AND stream = ? AND visible_at <= ? AND "
                + Jdbc.inList(st.store.dialect, "partition_no", activeParts.size())
                + " ORDER BY visible_at, id LIMIT " + limit;
        List<RetryEntry> found = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, st.request.group());
            ps.setString(2, st.request.stream());
            ps.setLong(3, now);
            Jdbc.bindInts(st.store.dialect, c, ps, 4, activeParts);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    long id = rs.getLong(1);
                    if (st.retries.containsKey(id)) {
                        continue;
                    }
                    int partition = rs.getInt(2);
                    String origin = st.request.stream() + "-" + partition + "@retry-" + id;
                    TransportMessage m;
                    try {
                        m = Rows.message(st.request.stream(), rs.getString(3), null, null, rs.getString(4),
                                rs.getBytes(5), null, rs.getInt(6));
                    } catch (IllegalArgumentException bad) {
                        m = TransportMessage.of(st.request.stream(), rs.getString(3), Map.of(), rs.getBytes(5));
                    }
                    found.add(new RetryEntry(id, partition, m, rs.getInt(7), origin));
                }
            }
        }
        if (found.size() >= limit) {
            st.nextRetryCheck = now;
        }
        if (found.isEmpty()) {
            return 0;
        }
        // Claim them for one lease, so that if this instance dies they come back (visibility timeout).
        long claimUntil = now + st.store.settings.lease().toMillis();
        List<RetryEntry> claimed = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + st.store.settings.retry()
                + " SET visible_at = ? WHERE id = ? AND visible_at <= ?")) {
            for (RetryEntry r : found) {
                ps.setLong(1, claimUntil);
                ps.setLong(2, r.id);
                ps.setLong(3, now);
                if (ps.executeUpdate() == 1) {
                    claimed.add(r);
                }
            }
        }
        for (RetryEntry r : claimed) {
            st.retries.put(r.id, r);
            dispatcher.dispatchRetry(r);
        }
        return claimed.size();
    }
}
