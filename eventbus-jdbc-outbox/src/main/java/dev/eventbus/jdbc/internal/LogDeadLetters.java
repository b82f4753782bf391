package dev.eventbus.jdbc.internal;

import dev.eventbus.DeadLetter;
import dev.eventbus.EventBusException;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The transport's dead-letter table: list per group, replay into the group's retry table (so only that group
 * gets it again, at once, with attempt 1) and remove, in one transaction.
 */
public final class LogDeadLetters implements Transport.DeadLetterStore {

    private final LogStore store;

    public LogDeadLetters(LogStore store) {
        this.store = store;
    }

    @Override
    public List<DeadLetter> list(String group, int limit) {
        String sql = "SELECT id, group_name, stream, msg_key, event_id, event_type, headers, body, priority, reason,"
                + " dead_at FROM " + store.settings.deadLetter() + (group == null ? "" : " WHERE group_name = ?")
                + " ORDER BY id LIMIT " + Math.max(0, limit);
        try (Connection c = store.dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement(sql)) {
            if (group != null) {
                ps.setString(1, group);
            }
            List<DeadLetter> out = new ArrayList<>();
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(read(rs));
                }
            }
            return out;
        } catch (SQLException e) {
            throw new EventBusException("cannot list dead letters: " + e.getMessage(), e, Jdbc.isTransient(e));
        }
    }

    private static DeadLetter read(ResultSet rs) throws SQLException {
        TransportMessage m;
        try {
            m = Rows.message(rs.getString("stream"), rs.getString("msg_key"), rs.getString("event_id"),
                    rs.getString("event_type"), rs.getString("headers"), rs.getBytes("body"), null,
                    rs.getInt("priority"));
        } catch (IllegalArgumentException bad) {
            m = TransportMessage.of(rs.getString("stream"), rs.getString("msg_key"), java.util.Map.of(),
                    rs.getBytes("body"));
        }
        return new DeadLetter(Long.toString(rs.getLong("id")), rs.getString("group_name"), m, rs.getString("reason"),
                Instant.ofEpochMilli(rs.getLong("dead_at")));
    }

    @Override
    public boolean replay(DeadLetter deadLetter) {
        long id;
        try {
            id = Long.parseLong(deadLetter.id());
        } catch (NumberFormatException e) {
            return false;
        }
        String stream;
        try (Connection c = store.dataSource.getConnection()) {
            stream = Jdbc.inTransaction(c, x -> {
                DeadLetter stored;
                try (PreparedStatement ps = x.prepareStatement("SELECT id, group_name, stream, msg_key, event_id,"
                        + " event_type, headers, body, priority, reason, dead_at FROM "
                        + store.settings.deadLetter() + " WHERE id = ? FOR UPDATE")) {
                    ps.setLong(1, id);
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            return null;
                        }
                        stored = read(rs);
                    }
                }
                try (PreparedStatement ps = x.prepareStatement("DELETE FROM " + store.settings.deadLetter()
                        + " WHERE id = ?")) {
                    ps.setLong(1, id);
                    if (ps.executeUpdate() != 1) {
                        return null;
                    }
                }
                TransportMessage m = stored.message().withStream(stored.originalStream()).forReplay();
                int partitions = store.partitionsOf(x, m.stream());
                long now = System.currentTimeMillis();
                try (PreparedStatement ps = x.prepareStatement("INSERT INTO " + store.settings.retry()
                        + " (group_name, stream, partition_no, msg_key, headers, body, priority, attempt,"
                        + " visible_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)")) {
                    ps.setString(1, stored.group());
                    ps.setString(2, m.stream());
                    ps.setInt(3, Partitioner.partition(m.key(), partitions));
                    ps.setString(4, m.key());
                    ps.setString(5, HeaderCodec.encode(m.headers(), null, null));
                    ps.setBytes(6, m.body());
                    ps.setInt(7, m.priority());
                    ps.setLong(8, now);
                    ps.setLong(9, now);
                    ps.executeUpdate();
                }
                return m.stream();
            });
        } catch (SQLException e) {
            throw new EventBusException("cannot replay dead letter " + deadLetter.id() + ": " + e.getMessage(), e,
                    Jdbc.isTransient(e));
        }
        if (stream == null) {
            return false;
        }
        Wakeups.wake(store.database, stream);
        return true;
    }
}
