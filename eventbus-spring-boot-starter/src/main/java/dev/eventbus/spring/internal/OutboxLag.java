package dev.eventbus.spring.internal;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import javax.sql.DataSource;

/**
 * Reads how far the outbox relay is behind: unsent rows ({@code pending} or {@code failed}), the age of the
 * oldest, and the {@code abandoned} ones. One short query on the outbox table. Stateless.
 */
public final class OutboxLag {

    /** @param oldestCreatedAt epoch millis of the oldest unsent row, or -1 when there is none */
    public record Lag(long unsent, long oldestCreatedAt, long abandoned) {
    }

    private OutboxLag() {
    }

    public static Lag read(DataSource dataSource, String table) throws SQLException {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT"
                     + " SUM(CASE WHEN status IN ('pending', 'failed') THEN 1 ELSE 0 END),"
                     + " MIN(CASE WHEN status IN ('pending', 'failed') THEN created_at END),"
                     + " SUM(CASE WHEN status = 'abandoned' THEN 1 ELSE 0 END)"
                     + " FROM " + table + " WHERE status <> 'published'");
             ResultSet rs = ps.executeQuery()) {
            rs.next();
            long unsent = rs.getLong(1);
            long oldest = rs.getLong(2);
            boolean none = rs.wasNull();
            return new Lag(unsent, none ? -1 : oldest, rs.getLong(3));
        }
    }
}
