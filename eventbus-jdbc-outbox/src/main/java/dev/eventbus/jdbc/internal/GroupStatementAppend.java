package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.TransportMessage;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Several event-store appends, to <em>distinct</em> streams, as one PostgreSQL statement (the group commit's
 * batch): {@link OneStatementAppend} widened to many streams. One {@code VALUES} list holds the appends (stream,
 * kind of expectation, expected version, event count), three data-modifying CTEs move the stream rows (exact:
 * {@code UPDATE ... FROM}; no stream: {@code INSERT ... ON CONFLICT DO NOTHING}; any: the upsert), and the event
 * and outbox rows are inserted from a second {@code VALUES} list joined to the appends whose stream row moved:
 *
 * <pre>
 * WITH a (k, stream_id, kind, expected, n) AS (VALUES ...),
 *      ex AS (UPDATE store_stream t SET version = a.expected + a.n FROM a
 *             WHERE a.kind = 0 AND t.stream_id = a.stream_id AND t.version = a.expected RETURNING a.k, t.version),
 *      ns AS (INSERT ... SELECT ... FROM a WHERE a.kind = 1 ON CONFLICT DO NOTHING RETURNING ...),
 *      an AS (INSERT ... SELECT ... FROM a WHERE a.kind = 2 ON CONFLICT DO UPDATE ... RETURNING ...),
 *      s (k, version) AS (ex UNION ALL ns UNION ALL an, each with its append's k),
 *      v (k, i, event_id, ...) AS (VALUES ...),
 *      e AS (INSERT INTO store_event ... FROM s JOIN a JOIN v ORDER BY v.k, v.i),
 *      o AS (INSERT INTO outbox ... FROM s JOIN v ORDER BY v.k, v.i)
 * SELECT k, version FROM s
 * </pre>
 *
 * An append whose stream is not as expected has no row in {@code s}, so it writes nothing and is missing from the
 * result; the others are written. In auto-commit mode the statement is one transaction: the appends it writes
 * commit together, in one round trip. The streams must be distinct (a row can be moved once per statement); the
 * caller puts a second append to a stream in a later statement. As in {@link OneStatementAppend}, an event's id is
 * drawn after its stream's row is locked, ids follow versions ({@code ORDER BY v.k, v.i}), and the outbox rows are
 * those {@code Outbox.publishMessages} writes.
 *
 * <p>Texts are kept per (appends, events) up to {@link #CACHED_EVENTS} events, so the driver's server-side
 * prepared statements apply. Thread-safe.
 */
public final class GroupStatementAppend {

    /** Codes of the {@code kind} column. */
    public static final int EXACT = 0;
    public static final int NO_STREAM = 1;
    public static final int ANY = 2;

    private static final int CACHED_EVENTS = 64;

    /** One append of the statement; {@code expected} is read for {@link #EXACT} only. */
    public record Part(String streamId, int kind, long expected, List<TransportMessage> messages) {
    }

    private final String prefix;
    private final String outboxTable;
    private final ConcurrentHashMap<Long, String> cache = new ConcurrentHashMap<>();

    public GroupStatementAppend(String prefix, String outboxTable) {
        this.prefix = prefix;
        this.outboxTable = outboxTable;
    }

    /**
     * Runs the appends on {@code c}, whose streams must be distinct.
     *
     * @return per part, in order, the stream's new version, or -1 when the stream was not as expected (nothing
     * written for that part)
     */
    public long[] run(Connection c, List<Part> parts, long now) throws SQLException {
        int appends = parts.size();
        int events = 0;
        for (Part p : parts) {
            events += p.messages().size();
        }
        try (PreparedStatement ps = c.prepareStatement(sql(appends, events))) {
            int i = 1;
            for (int k = 0; k < appends; k++) {
                Part p = parts.get(k);
                ps.setInt(i++, k);
                ps.setString(i++, p.streamId());
                ps.setInt(i++, p.kind());
                ps.setLong(i++, p.kind() == EXACT ? p.expected() : 0);
                ps.setLong(i++, p.messages().size());
            }
            for (int k = 0; k < appends; k++) {
                List<TransportMessage> messages = parts.get(k).messages();
                for (int e = 0; e < messages.size(); e++) {
                    TransportMessage m = messages.get(e);
                    ps.setInt(i++, k);
                    ps.setInt(i++, e + 1);
                    i = OneStatementAppend.bindEvent(ps, i, m);
                }
            }
            ps.setLong(i++, now);
            ps.setLong(i, now);
            long[] out = new long[appends];
            java.util.Arrays.fill(out, -1);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out[rs.getInt(1)] = rs.getLong(2);
                }
            }
            return out;
        }
    }

    String sql(int appends, int events) {
        if (events > CACHED_EVENTS) {
            return build(appends, events);
        }
        return cache.computeIfAbsent(((long) appends << 32) | events, x -> build(appends, events));
    }

    private String build(int appends, int events) {
        String st = prefix + "store_stream";
        StringBuilder sb = new StringBuilder(1200 + 30 * appends + 40 * events);
        sb.append("WITH a (k, stream_id, kind, expected, n) AS (VALUES ");
        for (int k = 0; k < appends; k++) {
            sb.append(k == 0 ? "(CAST(? AS INTEGER), CAST(? AS VARCHAR), CAST(? AS INTEGER), CAST(? AS BIGINT),"
                    + " CAST(? AS BIGINT))" : ",(?,?,?,?,?)");
        }
        sb.append("),\n ex AS (UPDATE ").append(st).append(" t SET version = a.expected + a.n FROM a"
                + " WHERE a.kind = 0 AND t.stream_id = a.stream_id AND t.version = a.expected RETURNING a.k,"
                + " t.version),\n");
        sb.append(" ns AS (INSERT INTO ").append(st).append(" (stream_id, version) SELECT stream_id, n FROM a"
                + " WHERE kind = 1 ORDER BY stream_id ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id,"
                + " version),\n");
        sb.append(" an AS (INSERT INTO ").append(st).append(" AS t (stream_id, version) SELECT stream_id, n FROM a"
                + " WHERE kind = 2 ORDER BY stream_id ON CONFLICT (stream_id) DO UPDATE SET version = t.version"
                + " + EXCLUDED.version RETURNING stream_id, version),\n");
        sb.append(" s (k, version) AS (SELECT k, version FROM ex"
                + " UNION ALL SELECT a.k, ns.version FROM ns JOIN a ON a.stream_id = ns.stream_id AND a.kind = 1"
                + " UNION ALL SELECT a.k, an.version FROM an JOIN a ON a.stream_id = an.stream_id AND a.kind = 2),\n");
        sb.append(" v (k, i, event_id, event_type, bus_stream, msg_key, key_hash, headers, body, deliver_at,"
                + " priority) AS (VALUES ");
        for (int e = 0; e < events; e++) {
            // Types from the first row (the rest follow it), whatever the driver says about its parameters.
            sb.append(e == 0 ? "(CAST(? AS INTEGER), CAST(? AS INTEGER), CAST(? AS VARCHAR), CAST(? AS VARCHAR),"
                    + " CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS BYTEA),"
                    + " CAST(? AS BIGINT), CAST(? AS INTEGER))" : ",(?,?,?,?,?,?,?,?,?,?,?)");
        }
        sb.append("),\n e AS (INSERT INTO ").append(prefix).append("store_event (stream_id, version, event_id,"
                + " event_type, bus_stream, headers, body, created_at) SELECT a.stream_id, s.version - a.n + v.i,"
                + " v.event_id, v.event_type, v.bus_stream, v.headers, v.body, CAST(? AS BIGINT)"
                + " FROM s JOIN a ON a.k = s.k JOIN v ON v.k = s.k ORDER BY v.k, v.i),\n");
        sb.append(" o AS (INSERT INTO ").append(outboxTable).append(" (key_hash, status, created_at, stream, msg_key,"
                + " event_id, event_type, headers, body, deliver_at, priority) SELECT v.key_hash, 'pending',"
                + " CAST(? AS BIGINT), v.bus_stream, v.msg_key, v.event_id, v.event_type, v.headers, v.body,"
                + " v.deliver_at, v.priority FROM s JOIN v ON v.k = s.k ORDER BY v.k, v.i)\n");
        sb.append("SELECT k, version FROM s");
        return sb.toString();
    }
}
