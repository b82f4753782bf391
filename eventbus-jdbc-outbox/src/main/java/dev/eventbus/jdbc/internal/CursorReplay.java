package dev.eventbus.jdbc.internal;

import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayResult;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Moves a group's cursors on one stream (the JDBC transport's replay): resolves a {@link ReplayFrom} to the sequence
 * each partition reads next, and writes it with the cursor row's {@code epoch} one higher, in one transaction. The
 * epoch is what makes it safe while the group runs: a member's cursor commit names the epoch it read
 * ({@link CursorCommitter#flush}), so nothing it had in flight can be committed over the new position, and its next
 * heartbeat sees the new epoch and starts the partition over from there ({@link LogSubscription}). Any thread.
 */
public final class CursorReplay {

    private CursorReplay() {
    }

    /**
     * Moves {@code group}'s cursors on {@code stream} to {@code from}. Blocks on the database.
     *
     * @return one move per partition moved; positions are the sequence read next
     * @throws IllegalArgumentException when the group has never read the stream (no cursor rows: a misspelt group
     *                                  would otherwise hold back log retention for ever), or a partition named in
     *                                  {@code from} does not exist
     */
    public static List<ReplayResult.Move> move(LogStore store, Connection c, String transport, String group,
                                               String stream, ReplayFrom from) throws SQLException {
        String cursor = store.settings.cursor();
        return Jdbc.inTransaction(c, x -> {
            Map<Integer, Long> current = new TreeMap<>();
            try (PreparedStatement ps = x.prepareStatement("SELECT partition_no, position FROM " + cursor
                    + " WHERE group_name = ? AND stream = ? ORDER BY partition_no FOR UPDATE")) {
                ps.setString(1, group);
                ps.setString(2, stream);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        current.put(rs.getInt(1), rs.getLong(2));
                    }
                }
            }
            if (current.isEmpty()) {
                throw new IllegalArgumentException("group '" + group + "' has never read stream '" + stream
                        + "' on this database (no rows in " + cursor + "): subscribe it first; where a new group"
                        + " starts is eventbus.jdbc.start-position (earliest or latest)");
            }
            long head = store.head(x, stream);
            Map<Integer, Long> next = new TreeMap<>();
            switch (from.kind()) {
                case BEGINNING -> fill(next, current, firstRetained(store, x, stream, null, head));
                case TIME -> fill(next, current, firstRetained(store, x, stream, from.time().toEpochMilli(), head));
                case POSITION -> fill(next, current, clamp(from.position(), head));
                case PARTITION_POSITIONS -> {
                    for (Map.Entry<Integer, Long> e : from.positions().entrySet()) {
                        if (!current.containsKey(e.getKey())) {
                            throw new IllegalArgumentException("stream '" + stream + "' has partitions 0 to "
                                    + (current.size() - 1) + "; there is no partition " + e.getKey());
                        }
                        next.put(e.getKey(), clamp(e.getValue(), head));
                    }
                }
                default -> throw new IllegalStateException("unknown replay kind " + from.kind());
            }
            long now = System.currentTimeMillis();
            List<ReplayResult.Move> moves = new ArrayList<>();
            try (PreparedStatement ps = x.prepareStatement("UPDATE " + cursor + " SET position = ?, epoch = epoch + 1,"
                    + " updated_at = ? WHERE group_name = ? AND stream = ? AND partition_no = ?")) {
                for (Map.Entry<Integer, Long> e : next.entrySet()) {
                    ps.setLong(1, e.getValue() - 1); // the cursor is the last sequence read
                    ps.setLong(2, now);
                    ps.setString(3, group);
                    ps.setString(4, stream);
                    ps.setInt(5, e.getKey());
                    ps.addBatch();
                    moves.add(new ReplayResult.Move(transport, stream, e.getKey(), current.get(e.getKey()) + 1,
                            e.getValue()));
                }
                ps.executeBatch();
            }
            return moves;
        });
    }

    private static void fill(Map<Integer, Long> next, Map<Integer, Long> current, long position) {
        for (Integer p : current.keySet()) {
            next.put(p, position);
        }
    }

    /** A sequence to read next: from 1 to one past the head (the end). */
    private static long clamp(long position, long head) {
        return Math.max(1, Math.min(position, head + 1));
    }

    /** The first retained sequence (appended at or after {@code atOrAfterMillis} when given), else one past the head. */
    private static long firstRetained(LogStore store, Connection c, String stream, Long atOrAfterMillis, long head)
            throws SQLException {
        String sql = "SELECT MIN(seq) FROM " + store.settings.log() + " WHERE stream = ?"
                + (atOrAfterMillis == null ? "" : " AND created_at >= ?") + " AND seq <= ?";
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            int i = 1;
            ps.setString(i++, stream);
            if (atOrAfterMillis != null) {
                ps.setLong(i++, atOrAfterMillis);
            }
            ps.setLong(i, head);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                long seq = rs.getLong(1);
                return rs.wasNull() ? head + 1 : seq;
            }
        }
    }
}
