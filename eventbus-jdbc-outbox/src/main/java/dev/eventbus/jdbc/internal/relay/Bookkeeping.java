package dev.eventbus.jdbc.internal.relay;

import dev.eventbus.EventBusException;
import dev.eventbus.jdbc.JdbcDialect;
import dev.eventbus.jdbc.internal.Jdbc;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * The recording step of a relay round, and the rows' life after it: marks acknowledged rows published (or deletes
 * them at once when retention is zero), failed ones failed with a doubling backoff or abandoned after the last
 * attempt, leaves everything as it was when the whole round failed with retriable errors (the target is down:
 * an outage spends no attempts), and deletes old published rows. Counts what it recorded.
 *
 * <p>{@link #record} and {@link #purgePublished} run on the relay thread; the counters may be read from any.
 */
public final class Bookkeeping {

    private static final Logger log = LoggerFactory.getLogger(Bookkeeping.class);
    private static final int RETENTION_BATCH = 1_000;

    private final JdbcDialect dialect;
    private final RelaySettings s;
    private final String relayId;
    private final String table;
    public final AtomicLong published = new AtomicLong();
    public final AtomicLong failed = new AtomicLong();
    public final AtomicLong abandoned = new AtomicLong();
    public final AtomicLong outages = new AtomicLong();
    private int outageStreak;

    public Bookkeeping(JdbcDialect dialect, RelaySettings s, String relayId) {
        this.dialect = dialect;
        this.s = s;
        this.relayId = relayId;
        this.table = s.outbox();
    }

    /**
     * Records a round's outcome in one transaction. Rows without a result (no answer before the deadline) and
     * skipped ones stay as they were.
     *
     * @return how long the relay should wait before the next round (a backoff during an outage, else 0)
     */
    public long record(Connection c, List<RelayRow> batch, Map<RelayRow, SendResult> results) throws SQLException {
        List<Long> sent = new ArrayList<>();
        List<RelayRow> failedRows = new ArrayList<>();
        boolean allRetriable = true;
        Throwable firstError = null;
        for (RelayRow r : batch) {
            SendResult res = results.get(r);
            if (res == null) {
                continue; // no answer before the deadline: still pending, sent again next round
            }
            switch (res.kind()) {
                case SENT:
                    sent.add(r.id);
                    break;
                case SKIPPED:
                    break;
                case FAILED:
                default:
                    failedRows.add(r);
                    allRetriable &= r.undecodable == null && retriable(res.error());
                    if (firstError == null) {
                        firstError = res.error();
                    }
                    break;
            }
        }
        boolean outage = sent.isEmpty() && !failedRows.isEmpty() && allRetriable;
        long now = System.currentTimeMillis();
        Throwable cause = firstError;
        if (outage) {
            // Nothing to write for the rows: they stay as they were.
            log.debug("outbox relay {}: outage, {} row(s) left as they were", relayId, failedRows.size());
        }
        Jdbc.inBookkeepingTransaction(c, dialect, x -> {
            markPublished(x, sent, now);
            // Skipped rows (an older row of their key failed) and, during an outage, failed ones keep their state.
            if (!outage && !failedRows.isEmpty()) {
                try (PreparedStatement ps = x.prepareStatement("UPDATE " + table + " SET status = ?, attempts = ?,"
                        + " next_attempt_at = ?, last_error = ? WHERE id = ? AND status IN ('pending', 'failed')")) {
                    for (RelayRow r : failedRows) {
                        Throwable e = results.get(r).error();
                        int attempts = r.attempts + 1;
                        boolean giveUp = attempts >= s.maxAttempts() || r.undecodable != null;
                        ps.setString(1, giveUp ? "abandoned" : "failed");
                        ps.setInt(2, attempts);
                        ps.setLong(3, now + backoff(attempts));
                        ps.setString(4, Jdbc.clip(describe(e), 2000));
                        ps.setLong(5, r.id);
                        ps.addBatch();
                        if (giveUp) {
                            log.warn("outbox relay {}: row {} ({} on {}) abandoned after {} attempt(s): {}", relayId,
                                    r.id, r.message == null ? "?" : r.message.type(),
                                    r.message == null ? "?" : r.message.stream(), attempts, describe(e));
                        }
                    }
                    ps.executeBatch();
                }
            }
            try (PreparedStatement ps = x.prepareStatement("UPDATE " + s.leaseTable() + " SET position = 0"
                    + " WHERE group_name = ? AND stream = ? AND owner = ? AND position <> 0")) {
                ps.setString(1, RelaySettings.GROUP);
                ps.setString(2, RelaySettings.SCOPE);
                ps.setString(3, relayId);
                ps.executeUpdate();
            }
            return null;
        });
        published.addAndGet(sent.size());
        if (outage) {
            outages.incrementAndGet();
            outageStreak++;
            long wait = Math.min(s.maxBackoff().toMillis(), s.backoff().toMillis() << Math.min(outageStreak - 1, 20));
            if (outageStreak == 1 || outageStreak % 10 == 0) {
                log.warn("outbox relay {}: the target refused a whole batch ({}); backing off {} ms", relayId,
                        describe(cause), wait);
            }
            return wait;
        }
        outageStreak = 0;
        for (RelayRow r : failedRows) {
            if (r.attempts + 1 >= s.maxAttempts() || r.undecodable != null) {
                abandoned.incrementAndGet();
            } else {
                failed.incrementAndGet();
            }
        }
        return 0;
    }

    /** Marks rows the target acknowledged after their round ended as published, in a transaction of its own. */
    public void recordLate(Connection c, List<Long> ids) throws SQLException {
        if (ids.isEmpty()) {
            return;
        }
        long now = System.currentTimeMillis();
        Jdbc.inBookkeepingTransaction(c, dialect, x -> {
            markPublished(x, ids, now);
            return null;
        });
        published.addAndGet(ids.size());
    }

    private void markPublished(Connection x, List<Long> sent, long now) throws SQLException {
        if (sent.isEmpty()) {
            return;
        }
        String sql = s.retention().isZero()
                ? "DELETE FROM " + table + " WHERE " + Jdbc.inList(dialect, "id", sent.size())
                : "UPDATE " + table + " SET status = 'published', published_at = ? WHERE "
                        + Jdbc.inList(dialect, "id", sent.size()) + " AND status IN ('pending', 'failed')";
        try (PreparedStatement ps = x.prepareStatement(sql)) {
            int i = 1;
            if (!s.retention().isZero()) {
                ps.setLong(i++, now);
            }
            Jdbc.bindLongs(dialect, x, ps, i, sent);
            ps.executeUpdate();
        }
    }

    private long backoff(int attempts) {
        long base = s.backoff().toMillis();
        long b = attempts >= 30 ? Long.MAX_VALUE : base << Math.max(0, attempts - 1);
        return Math.min(s.maxBackoff().toMillis(), b < 0 ? Long.MAX_VALUE : b);
    }

    private static boolean retriable(Throwable e) {
        for (Throwable x = e; x != null; x = x.getCause()) {
            if (x instanceof EventBusException ebe) {
                return ebe.isRetriable();
            }
            if (x instanceof java.util.concurrent.TimeoutException || x instanceof java.io.IOException) {
                return true;
            }
        }
        return Jdbc.isTransient(e);
    }

    private static String describe(Throwable e) {
        return e == null ? "unknown" : e.getClass().getName() + ": " + e.getMessage();
    }

    // ----------------------------------------------------------------------------------------------- retention

    /** Deletes published rows older than the retention, in bounded batches, until done or {@code stop}. */
    public void purgePublished(Connection c, long now, BooleanSupplier stop) throws SQLException {
        if (s.retention().isZero()) {
            return;
        }
        long cutoff = now - s.retention().toMillis();
        String sql;
        switch (dialect) {
            case POSTGRESQL:
                sql = "DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table + " WHERE status = 'published'"
                        + " AND published_at < ? ORDER BY id LIMIT " + RETENTION_BATCH + " FOR UPDATE SKIP LOCKED)";
                break;
            case MARIADB:
                sql = "DELETE FROM " + table + " WHERE status = 'published' AND published_at < ? ORDER BY id LIMIT "
                        + RETENTION_BATCH;
                break;
            default:
                sql = "DELETE FROM " + table + " WHERE status = 'published' AND published_at < ? LIMIT "
                        + RETENTION_BATCH;
                break;
        }
        long total = 0;
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int round = 0; round < 100 && !stop.getAsBoolean(); round++) {
                ps.setLong(1, cutoff);
                int n = ps.executeUpdate();
                total += n;
                if (n < RETENTION_BATCH) {
                    break;
                }
            }
        }
        if (total > 0) {
            log.debug("outbox relay {}: retention deleted {} published rows", relayId, total);
        }
    }

    public long countPublished(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM " + table
                + " WHERE status = 'published'");
             ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /** Puts abandoned rows back to pending with their attempt count reset; returns how many. */
    public int requeueAbandoned(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + table + " SET status = 'pending', attempts = 0,"
                + " next_attempt_at = NULL WHERE status = 'abandoned'")) {
            return ps.executeUpdate();
        }
    }
}
