package dev.eventbus.jdbc.internal;

import dev.eventbus.jdbc.JdbcDialect;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.concurrent.ConcurrentHashMap;
import javax.sql.DataSource;

/** What the parts of one JDBC transport share: the data source, dialect, settings and the stream registry. */
public final class LogStore {

    public final DataSource dataSource;
    public final JdbcDialect dialect;
    public final TransportSettings settings;
    /** Identifies the database in this JVM (URL + prefix), for in-process wake-ups. */
    public final String database;
    private final ConcurrentHashMap<String, Integer> partitions = new ConcurrentHashMap<>();

    public LogStore(DataSource dataSource, JdbcDialect dialect, TransportSettings settings, String database) {
        this.dataSource = dataSource;
        this.dialect = dialect;
        this.settings = settings;
        this.database = database;
    }

    /**
     * The partition count of {@code stream}, creating its row (with the configured count) the first time. A
     * stream keeps the count it was created with, so every instance partitions its keys the same way.
     */
    public int partitionsOf(Connection c, String stream) throws SQLException {
        Integer n = partitions.get(stream);
        if (n != null) {
            return n;
        }
        int found = readPartitions(c, stream);
        if (found < 0) {
            String insert = Sql.insertIgnore(dialect, settings.stream(), "stream, next_seq, partitions, created_at",
                    "?, 1, ?, ?");
            boolean auto = c.getAutoCommit();
            try (PreparedStatement ps = c.prepareStatement(insert)) {
                ps.setString(1, stream);
                ps.setInt(2, settings.partitions());
                ps.setLong(3, System.currentTimeMillis());
                ps.executeUpdate();
                if (!auto) {
                    c.commit();
                }
            } catch (SQLException e) {
                if (!auto) {
                    c.rollback();
                }
                if (!Jdbc.isDuplicate(e)) {
                    throw e;
                }
            }
            found = readPartitions(c, stream);
            if (found < 0) {
                throw new SQLException("stream row for '" + stream + "' vanished right after it was created");
            }
        }
        partitions.put(stream, found);
        return found;
    }

    private int readPartitions(Connection c, String stream) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT partitions FROM " + settings.stream()
                + " WHERE stream = ?")) {
            ps.setString(1, stream);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getInt(1) : -1;
            }
        }
    }

    /** The highest sequence number committed on {@code stream} (0 when none). */
    public long head(Connection c, String stream) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT next_seq FROM " + settings.stream()
                + " WHERE stream = ?")) {
            ps.setString(1, stream);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) - 1 : 0;
            }
        }
    }
}
