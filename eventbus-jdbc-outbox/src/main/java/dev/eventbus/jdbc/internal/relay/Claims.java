package dev.eventbus.jdbc.internal.relay;

import dev.eventbus.jdbc.JdbcDialect;
import dev.eventbus.jdbc.internal.Jdbc;
import dev.eventbus.jdbc.internal.Rows;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The claiming step of a relay round: reads the unfinished rows of the partitions this relay leases, in id order,
 * and picks the ones to send now. A row waits while an older row of its key waits (for a retry, for its delivery
 * time, or for the target's answer to an earlier round), so a key's rows go out in commit order; other keys are not
 * held up, even when one waiting key fills a whole page. Records the highest id in flight on each lease for the
 * {@code outbox_status} view. Relay thread only.
 */
public final class Claims {

    private static final String COLUMNS = "id, key_hash, status, stream, msg_key, event_id, event_type, headers,"
            + " body, deliver_at, priority, attempts, next_attempt_at";

    private final JdbcDialect dialect;
    private final RelaySettings s;
    private final String relayId;
    private final boolean targetDelays;
    private final String table;

    /** @param targetDelays whether the target delivers delayed messages itself (else they wait here) */
    public Claims(JdbcDialect dialect, RelaySettings s, String relayId, boolean targetDelays) {
        this.dialect = dialect;
        this.s = s;
        this.relayId = relayId;
        this.targetDelays = targetDelays;
        this.table = s.outbox();
    }

    /** The rows to send this round, in id order; {@code sends} tells which earlier sends are unanswered. */
    public List<RelayRow> claim(Connection c, Set<Integer> owned, long now, Sends sends) throws SQLException {
        return Jdbc.inBookkeepingTransaction(c, dialect, x -> {
            String filter = owned.size() == s.partitions() ? ""
                    : " AND " + Jdbc.inList(dialect, "MOD(key_hash, " + s.partitions() + ")", owned.size());
            TreeMap<Long, RelayRow> candidates = new TreeMap<>();
            // One status per query: each is a short range of an index, never a walk past the pending backlog.
            int pendingRows = query(x, "SELECT " + COLUMNS + " FROM " + table + " WHERE status = 'pending'" + filter
                    + " ORDER BY id LIMIT " + s.batchSize(), owned, List.of(), candidates);
            query(x, "SELECT " + COLUMNS + " FROM " + table + " WHERE status = 'failed'" + filter
                    + " ORDER BY id LIMIT " + s.batchSize(), owned, List.of(), candidates);

            Set<String> blocked = new LinkedHashSet<>(sends.unansweredKeys());
            List<RelayRow> sendable = pick(candidates, now, blocked, sends);
            if (sendable.isEmpty() && pendingRows >= s.batchSize() && !blocked.isEmpty()) {
                // A key waiting for a retry filled the whole page: look past it, so other keys keep flowing.
                List<String> skip = new ArrayList<>(blocked);
                if (skip.size() > 100) {
                    skip = skip.subList(0, 100);
                }
                candidates.clear();
                query(x, "SELECT " + COLUMNS + " FROM " + table + " WHERE status = 'pending'" + filter
                        + " AND (msg_key IS NULL OR msg_key NOT IN " + Jdbc.placeholders(skip.size()) + ")"
                        + " ORDER BY id LIMIT " + s.batchSize(), owned, skip, candidates);
                sendable = pick(candidates, now, blocked, sends);
            }
            if (sendable.isEmpty()) {
                return sendable;
            }
            // Record what is in flight on the leases we hold (for operators: the outbox_status view).
            Map<Integer, Long> highest = new TreeMap<>();
            for (RelayRow r : sendable) {
                highest.merge(r.partition(s.partitions()), r.id, Math::max);
            }
            try (PreparedStatement ps = x.prepareStatement("UPDATE " + s.leaseTable() + " SET position = ?"
                    + " WHERE group_name = ? AND stream = ? AND partition_no = ? AND owner = ?")) {
                for (Map.Entry<Integer, Long> e : highest.entrySet()) {
                    ps.setLong(1, e.getValue());
                    ps.setString(2, RelaySettings.GROUP);
                    ps.setString(3, RelaySettings.SCOPE);
                    ps.setInt(4, e.getKey());
                    ps.setString(5, relayId);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            return sendable;
        });
    }

    private int query(Connection c, String sql, Set<Integer> owned, List<String> skipKeys,
                      TreeMap<Long, RelayRow> into) throws SQLException {
        int n = 0;
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            int i = 1;
            if (owned.size() != s.partitions()) {
                i = Jdbc.bindInts(dialect, c, ps, i, owned);
            }
            for (String k : skipKeys) {
                ps.setString(i++, k);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    n++;
                    RelayRow r = new RelayRow();
                    // Columns by position, in COLUMNS order.
                    r.id = rs.getLong(1);
                    r.keyHash = rs.getInt(2);
                    r.status = rs.getString(3);
                    r.key = rs.getString(5);
                    r.attempts = rs.getInt(12);
                    try {
                        r.message = Rows.read(rs, 4);
                    } catch (IllegalArgumentException bad) {
                        r.undecodable = "the outbox row cannot be read: " + bad.getMessage();
                    }
                    r.nextAttemptAt = rs.getLong(13);
                    into.put(r.id, r);
                }
            }
        }
        return n;
    }

    /** Rows to send now, in id order, skipping every row whose key has an older unfinished row that is not due. */
    private List<RelayRow> pick(TreeMap<Long, RelayRow> candidates, long now, Set<String> blocked, Sends sends) {
        List<RelayRow> out = new ArrayList<>();
        for (RelayRow r : candidates.values()) {
            if (out.size() >= s.batchSize()) {
                break;
            }
            if (r.key != null && blocked.contains(r.key)) {
                continue;
            }
            if (sends.isUnanswered(r.id)) {
                continue; // its send of an earlier round may still be acknowledged
            }
            boolean due = !"failed".equals(r.status) || r.nextAttemptAt <= now;
            if (due && r.message != null && !targetDelays && r.message.deliverAt() != null
                    && r.message.deliverAt().toEpochMilli() > now) {
                due = false; // the target cannot delay: hold it here until its time
            }
            if (!due) {
                if (r.key != null) {
                    blocked.add(r.key);
                }
                continue;
            }
            out.add(r);
        }
        return out;
    }
}
