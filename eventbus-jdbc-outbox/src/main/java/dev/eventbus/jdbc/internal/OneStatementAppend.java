package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.List;

/**
 * An event-store append as one PostgreSQL statement (one round trip instead of three): data-modifying CTEs move the
 * stream's row (the version check and the row lock, exactly as the separate statements did), then insert the event
 * rows and their outbox rows from one {@code VALUES} list, so each event's bytes cross the wire once.
 *
 * <pre>
 * WITH s AS (UPDATE store_stream SET version = ? WHERE stream_id = ? AND version = ? RETURNING stream_id, version),
 *      v (i, event_id, ...) AS (VALUES (1, ?, ...), (2, ?, ...)),
 *      e AS (INSERT INTO store_event (...) SELECT s.stream_id, s.version - n + v.i, ... FROM s CROSS JOIN v ORDER BY v.i),
 *      o AS (INSERT INTO outbox (...) SELECT ... FROM s CROSS JOIN v ORDER BY v.i)
 * SELECT version FROM s
 * </pre>
 *
 * The rows come from {@code s CROSS JOIN v}: when the stream is not at the expected version, {@code s} is empty and
 * nothing is written (the statement returns no row and the transaction stays usable, so the caller can read the
 * actual version). An event row exists only after {@code s} has locked the stream's row, so its identity id is drawn
 * under that lock: the next append to the stream waits for this one's commit and gets larger ids, which keeps
 * position order = version order (see {@code JdbcEventStore}). {@code ORDER BY v.i} makes ids follow versions
 * within the append, and the outbox ids follow the same order (the relay publishes a key's rows in id order).
 *
 * <p>The outbox columns and values are the ones {@code Outbox.publishMessages} writes ({@link Rows#bind}):
 * {@code EventStoreTests} compares the two row by row. Statement texts are built once per (expectation, event
 * count) and kept. Thread-safe.
 */
public final class OneStatementAppend {

    /** The stream-row part of the statement, one per kind of expected version. */
    public enum Expectation {
        /** {@code UPDATE ... WHERE version = ?}: binds the new version, the stream id, the expected version. */
        EXACT,
        /** {@code INSERT ... ON CONFLICT DO NOTHING}: the stream must not exist. */
        NO_STREAM,
        /** {@code INSERT ... ON CONFLICT DO UPDATE}: adds the count to whatever the version is. */
        ANY
    }

    /**
     * Appends of more events take the statement-per-table path: 10 parameters per event, and PostgreSQL allows
     * 32,767 per statement; long statement texts are not worth caching either.
     */
    public static final int MAX_EVENTS = 500;

    /** Statement texts kept per event count up to this; larger appends build theirs each time. */
    private static final int CACHED = 64;

    private final String prefix;
    private final String outboxTable;
    private final String[][] cache = new String[Expectation.values().length][CACHED + 1];

    public OneStatementAppend(String prefix, String outboxTable) {
        this.prefix = prefix;
        this.outboxTable = outboxTable;
    }

    /**
     * Runs the append on {@code c} (in its transaction, or as a transaction of its own in auto-commit mode).
     *
     * @param expected the expected version for {@link Expectation#EXACT}, ignored otherwise
     * @return the stream's new version, or -1 when the stream is not as expected (nothing was written)
     * @throws SQLException a duplicate (stream, version) only if the stream row disagrees with the events
     */
    public long run(Connection c, String streamId, Expectation kind, long expected, List<TransportMessage> messages,
                    long now) throws SQLException {
        int n = messages.size();
        try (PreparedStatement ps = c.prepareStatement(sql(kind, n))) {
            int i = 1;
            switch (kind) {
                case EXACT -> {
                    ps.setLong(i++, expected + n);
                    ps.setString(i++, streamId);
                    ps.setLong(i++, expected);
                }
                case NO_STREAM, ANY -> {
                    ps.setString(i++, streamId);
                    ps.setLong(i++, n);
                }
                default -> throw new IllegalStateException(kind.name());
            }
            for (TransportMessage m : messages) {
                i = bindEvent(ps, i, m);
            }
            ps.setLong(i++, now);
            ps.setLong(i, now);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : -1;
            }
        }
    }

    String sql(Expectation kind, int n) {
        if (n > CACHED) {
            return build(kind, n);
        }
        String[] texts = cache[kind.ordinal()];
        String s = texts[n];
        if (s == null) {
            s = build(kind, n); // a benign race: two threads may build the same text
            texts[n] = s;
        }
        return s;
    }

    private String build(Expectation kind, int n) {
        String stream = switch (kind) {
            case EXACT -> "UPDATE " + prefix + "store_stream SET version = ? WHERE stream_id = ? AND version = ?";
            case NO_STREAM -> "INSERT INTO " + prefix + "store_stream (stream_id, version) VALUES (?, ?)"
                    + " ON CONFLICT (stream_id) DO NOTHING";
            case ANY -> "INSERT INTO " + prefix + "store_stream AS t (stream_id, version) VALUES (?, ?)"
                    + " ON CONFLICT (stream_id) DO UPDATE SET version = t.version + EXCLUDED.version";
        };
        StringBuilder sb = new StringBuilder(400 + 40 * n);
        sb.append("WITH s AS (").append(stream).append(" RETURNING stream_id, version),\n");
        sb.append(" v (i, event_id, event_type, bus_stream, msg_key, key_hash, headers, body, deliver_at, priority)"
                + " AS (VALUES ");
        for (int k = 1; k <= n; k++) {
            if (k == 1) {
                // Types from the first row (the rest follow it), whatever the driver says about its parameters.
                sb.append("(1, CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS VARCHAR), CAST(? AS VARCHAR),"
                        + " CAST(? AS INTEGER), CAST(? AS TEXT), CAST(? AS BYTEA), CAST(? AS BIGINT),"
                        + " CAST(? AS INTEGER))");
            } else {
                sb.append(",(").append(k).append(",?,?,?,?,?,?,?,?,?)");
            }
        }
        sb.append("),\n e AS (INSERT INTO ").append(prefix).append("store_event (stream_id, version, event_id,"
                        + " event_type, bus_stream, headers, body, created_at) SELECT s.stream_id, s.version - ")
                .append(n).append(" + v.i, v.event_id, v.event_type, v.bus_stream, v.headers, v.body, CAST(? AS BIGINT)"
                        + " FROM s CROSS JOIN v ORDER BY v.i),\n");
        sb.append(" o AS (INSERT INTO ").append(outboxTable).append(" (key_hash, status, created_at, stream, msg_key,"
                + " event_id, event_type, headers, body, deliver_at, priority) SELECT v.key_hash, 'pending',"
                + " CAST(? AS BIGINT), v.bus_stream, v.msg_key, v.event_id, v.event_type, v.headers, v.body,"
                + " v.deliver_at, v.priority FROM s CROSS JOIN v ORDER BY v.i)\n");
        sb.append("SELECT version FROM s");
        return sb.toString();
    }

    /**
     * Binds one event's values of the {@code VALUES} list (id, type, bus stream, key, key hash, headers, body,
     * deliver-at, priority) from {@code i} on; returns the next parameter index. Shared with
     * {@link GroupStatementAppend}, whose rows carry the same values after their append and event numbers.
     */
    static int bindEvent(PreparedStatement ps, int i, TransportMessage m) throws SQLException {
        ps.setString(i++, m.header(MessageHeaders.ID));
        ps.setString(i++, m.header(MessageHeaders.TYPE));
        ps.setString(i++, m.stream());
        ps.setString(i++, m.key());
        ps.setInt(i++, Partitioner.hash(m.key()));
        ps.setString(i++, HeaderCodec.encode(m.headers(), MessageHeaders.ID, MessageHeaders.TYPE));
        ps.setBytes(i++, m.body());
        if (m.deliverAt() == null) {
            ps.setNull(i++, Types.BIGINT);
        } else {
            ps.setLong(i++, m.deliverAt().toEpochMilli());
        }
        ps.setInt(i++, m.priority());
        return i;
    }
}
