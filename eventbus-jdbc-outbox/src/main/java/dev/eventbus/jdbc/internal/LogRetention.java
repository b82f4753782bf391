package dev.eventbus.jdbc.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;

/**
 * Deletes log rows older than the retention that every group's cursor has passed, in bounded ranges of
 * sequence numbers (so each DELETE is a short index range, never a table scan). A group that stopped reading
 * keeps its events: retention never deletes what a known group has not read.
 */
public final class LogRetention {

    private static final Logger log = LoggerFactory.getLogger(LogRetention.class);
    private static final int RANGE = 5_000;
    private static final int MAX_ROUNDS = 200;

    private LogRetention() {
    }

    /** One pass over every stream; returns the number of rows deleted. */
    public static long run(LogStore store, Connection c, long now) throws SQLException {
        TransportSettings s = store.settings;
        long cutoff = now - s.retention().toMillis();
        List<String> streams = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT stream FROM " + s.stream());
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                streams.add(rs.getString(1));
            }
        }
        long total = 0;
        for (String stream : streams) {
            long safe = Long.MAX_VALUE;
            try (PreparedStatement ps = c.prepareStatement("SELECT MIN(position) FROM " + s.cursor()
                    + " WHERE stream = ?")) {
                ps.setString(1, stream);
                try (ResultSet rs = ps.executeQuery()) {
                    if (rs.next()) {
                        long min = rs.getLong(1);
                        if (!rs.wasNull()) {
                            safe = min;
                        }
                    }
                }
            }
            for (int round = 0; round < MAX_ROUNDS; round++) {
                long lo;
                try (PreparedStatement ps = c.prepareStatement("SELECT MIN(seq) FROM " + s.log()
                        + " WHERE stream = ?")) {
                    ps.setString(1, stream);
                    try (ResultSet rs = ps.executeQuery()) {
                        rs.next();
                        lo = rs.getLong(1);
                        if (rs.wasNull()) {
                            break;
                        }
                    }
                }
                long hi = Math.min(safe, lo + RANGE - 1);
                if (hi < lo) {
                    break;
                }
                int n;
                try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + s.log()
                        + " WHERE stream = ? AND seq >= ? AND seq <= ? AND created_at < ?")) {
                    ps.setString(1, stream);
                    ps.setLong(2, lo);
                    ps.setLong(3, hi);
                    ps.setLong(4, cutoff);
                    n = ps.executeUpdate();
                }
                total += n;
                if (n < hi - lo + 1) {
                    break;
                }
            }
        }
        if (total > 0) {
            log.debug("log retention deleted {} rows", total);
        }
        return total;
    }
}
