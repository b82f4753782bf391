package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;

import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The wire mapping of a {@link TransportMessage} to table columns, the same for the log and the outbox:
 * {@code stream}, {@code msg_key} (the key), {@code event_id} and {@code event_type} (the CloudEvents {@code id}
 * and {@code type} headers, in columns so operators can query them), {@code headers} (every other header as a
 * JSON object), {@code body}, {@code deliver_at} (epoch ms or null) and {@code priority}.
 */
public final class Rows {

    private Rows() {
    }

    /** Binds stream, msg_key, event_id, event_type, headers, body, deliver_at, priority from {@code i}; returns the next index. */
    public static int bind(PreparedStatement ps, int i, TransportMessage m) throws SQLException {
        ps.setString(i++, m.stream());
        ps.setString(i++, m.key());
        ps.setString(i++, m.header(MessageHeaders.ID));
        ps.setString(i++, m.header(MessageHeaders.TYPE));
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

    /**
     * Reads a message from columns named stream, msg_key, event_id, event_type, headers, body, deliver_at,
     * priority.
     *
     * @throws IllegalArgumentException when the headers column is not valid JSON (a corrupted row)
     */
    public static TransportMessage read(ResultSet rs) throws SQLException {
        return read(rs, rs.findColumn("stream"));
    }

    /**
     * Reads a message whose columns stream, msg_key, event_id, event_type, headers, body, deliver_at, priority
     * come one after the other from index {@code first} (faster than by name, for hot loops).
     */
    public static TransportMessage read(ResultSet rs, int first) throws SQLException {
        String stream = rs.getString(first);
        String key = rs.getString(first + 1);
        String id = rs.getString(first + 2);
        String type = rs.getString(first + 3);
        String headersJson = rs.getString(first + 4);
        byte[] body = rs.getBytes(first + 5);
        long deliverAt = rs.getLong(first + 6);
        boolean noDelay = rs.wasNull();
        int priority = rs.getInt(first + 7);
        return message(stream, key, id, type, headersJson, body, noDelay ? null : deliverAt, priority);
    }

    public static TransportMessage message(String stream, String key, String id, String type, String headersJson,
                                           byte[] body, Long deliverAt, int priority) {
        Map<String, String> decoded = HeaderCodec.decode(headersJson);
        Map<String, String> headers;
        if (id == null && type == null) {
            headers = decoded;
        } else {
            headers = new LinkedHashMap<>(decoded.size() + 2);
            if (id != null) {
                headers.put(MessageHeaders.ID, id);
            }
            if (type != null) {
                headers.put(MessageHeaders.TYPE, type);
            }
            headers.putAll(decoded);
        }
        return new TransportMessage(stream, key, headers, body == null ? new byte[0] : body,
                deliverAt == null ? null : Instant.ofEpochMilli(deliverAt), Math.max(0, Math.min(255, priority)));
    }
}
