package dev.eventbus.jdbc;

import dev.eventbus.EventBusException;
import dev.eventbus.process.OutgoingEvent;
import dev.eventbus.process.ProcessConflictException;
import dev.eventbus.process.ProcessInstance;
import dev.eventbus.process.ProcessStatus;
import dev.eventbus.process.ProcessStore;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * A {@link ProcessStore} in a database (H2, PostgreSQL, MariaDB): sagas and aggregations that survive a restart,
 * shared by every instance of a service.
 *
 * <pre>{@code
 * Outbox outbox = Outbox.builder(dataSource).bus(bus).build();
 * JdbcProcessStore store = JdbcProcessStore.builder(dataSource).outbox(outbox).build();
 * ProcessManager processes = ProcessManager.builder(bus, store).saga(orderSaga).build();
 * OutboxRelay relay = OutboxRelay.builder(dataSource, bus.transport("memory")).build();   // moves the commands
 * }</pre>
 *
 * <p><b>One transaction.</b> {@link #commit} inserts the message id into {@code <prefix>process_message} (a
 * duplicate key means the message was applied before: rolled back, {@code DUPLICATE}), writes the process with
 * {@code UPDATE ... WHERE version = expected} (no row: someone else updated it, {@link ProcessConflictException};
 * a new process is an {@code INSERT}, and a duplicate key is the same conflict), and writes the emitted events into
 * the outbox ({@link Outbox#publish(Object, dev.eventbus.PublishOptions, Connection)}), then commits: all or
 * nothing. A relay ({@link OutboxRelay}) sends the events afterwards, at least once, in order per key (the process
 * id). Without an outbox the manager publishes the events after the commit (a crash in between loses them).
 *
 * <p><b>Tables.</b> {@code <prefix>process} (type, id, version, status, state as JSON text, deadline and update
 * time in epoch ms, indexed on the deadline) and {@code <prefix>process_message}; see {@link #ddl}. Created on
 * embedded databases by default ({@link SchemaMode}). {@link #purgeFinished} deletes finished processes and their
 * message ids.
 *
 * <p>Thread-safe; each call borrows one connection from the data source and returns it (use a pool). Every call
 * blocks on the database and throws {@link EventBusException} when it fails (retriable when the failure is).
 * Nothing to close: the data source and the outbox are the caller's.
 */
public final class JdbcProcessStore implements ProcessStore {

    private final DataSource dataSource;
    private final JdbcDialect dialect;
    private final Outbox outbox;
    private final String processTable;
    private final String messageTable;

    private JdbcProcessStore(Builder b, JdbcDialect dialect, String prefix) {
        this.dataSource = b.dataSource;
        this.dialect = dialect;
        this.outbox = b.outbox;
        this.processTable = prefix + "process";
        this.messageTable = prefix + "process_message";
    }

    /** A builder for a store on {@code dataSource}; {@link Builder#build()} detects the dialect and checks the tables. */
    public static Builder builder(DataSource dataSource) {
        return new Builder(dataSource);
    }

    /** The DDL of the store's tables for {@code dialect} with {@code tablePrefix}, statements ending with {@code ;}. */
    public static String ddl(JdbcDialect dialect, String tablePrefix) {
        return ProcessTables.script(dialect, ProcessTables.validPrefix(tablePrefix));
    }

    /** The dialect in use. */
    public JdbcDialect dialect() {
        return dialect;
    }

    @Override
    public Optional<ProcessInstance> find(String type, String id) {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement("SELECT version, status, state_json, deadline_at, updated_at"
                    + " FROM " + processTable + " WHERE process_type = ? AND process_id = ?")) {
                ps.setString(1, type);
                ps.setString(2, id);
                try (ResultSet rs = ps.executeQuery()) {
                    return rs.next() ? Optional.of(instance(type, id, rs)) : Optional.empty();
                }
            }
        } catch (SQLException e) {
            throw failure("read process " + type + "/" + id, e);
        }
    }

    private static ProcessInstance instance(String type, String id, ResultSet rs) throws SQLException {
        long deadline = rs.getLong(4);
        Instant deadlineAt = rs.wasNull() ? null : Instant.ofEpochMilli(deadline);
        return new ProcessInstance(type, id, rs.getLong(1), rs.getString(2), rs.getString(3), deadlineAt,
                Instant.ofEpochMilli(rs.getLong(5)));
    }

    @Override
    public CommitResult commit(ProcessInstance next, String messageId, List<OutgoingEvent> emitted) {
        Objects.requireNonNull(next, "next");
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            try {
                CommitResult r = write(c, next, messageId, emitted);
                if (r == CommitResult.COMMITTED) {
                    c.commit();
                } else {
                    c.rollback();
                }
                return r;
            } catch (SQLException | RuntimeException e) {
                rollbackQuietly(c);
                throw e;
            } finally {
                c.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw failure("commit process " + next.type() + "/" + next.id(), e);
        }
    }

    private CommitResult write(Connection c, ProcessInstance next, String messageId, List<OutgoingEvent> emitted)
            throws SQLException {
        long now = System.currentTimeMillis();
        if (messageId != null) {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + messageTable
                    + " (process_type, process_id, message_id, applied_at) VALUES (?, ?, ?, ?)")) {
                ps.setString(1, next.type());
                ps.setString(2, next.id());
                ps.setString(3, messageId);
                ps.setLong(4, now);
                ps.executeUpdate();
            } catch (SQLException e) {
                if (isDuplicateKey(e)) {
                    return CommitResult.DUPLICATE;
                }
                throw e;
            }
        }
        if (next.version() == 1) {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + processTable
                    + " (process_type, process_id, version, status, state_json, deadline_at, updated_at)"
                    + " VALUES (?, ?, ?, ?, ?, ?, ?)")) {
                ps.setString(1, next.type());
                ps.setString(2, next.id());
                ps.setLong(3, 1);
                ps.setString(4, next.status());
                ps.setString(5, next.data());
                setDeadline(ps, 6, next);
                ps.setLong(7, next.updated() == null ? now : next.updated().toEpochMilli());
                ps.executeUpdate();
            } catch (SQLException e) {
                if (isDuplicateKey(e)) {
                    throw new ProcessConflictException("process " + next.type() + "/" + next.id()
                            + " was created concurrently");
                }
                throw e;
            }
        } else {
            try (PreparedStatement ps = c.prepareStatement("UPDATE " + processTable
                    + " SET version = ?, status = ?, state_json = ?, deadline_at = ?, updated_at = ?"
                    + " WHERE process_type = ? AND process_id = ? AND version = ?")) {
                ps.setLong(1, next.version());
                ps.setString(2, next.status());
                ps.setString(3, next.data());
                setDeadline(ps, 4, next);
                ps.setLong(5, next.updated() == null ? now : next.updated().toEpochMilli());
                ps.setString(6, next.type());
                ps.setString(7, next.id());
                ps.setLong(8, next.version() - 1);
                if (ps.executeUpdate() != 1) {
                    throw new ProcessConflictException("process " + next.type() + "/" + next.id()
                            + " is no longer at version " + (next.version() - 1));
                }
            }
        }
        if (!emitted.isEmpty()) {
            if (outbox == null) {
                return CommitResult.COMMITTED; // the manager publishes them after the commit
            }
            for (OutgoingEvent e : emitted) {
                outbox.publish(e.event(), e.options(), c);
            }
        }
        return CommitResult.COMMITTED;
    }

    private static void setDeadline(PreparedStatement ps, int index, ProcessInstance p) throws SQLException {
        if (p.deadline() == null) {
            ps.setNull(index, Types.BIGINT);
        } else {
            ps.setLong(index, p.deadline().toEpochMilli());
        }
    }

    @Override
    public List<ProcessInstance> due(Collection<String> types, Instant now, int limit) {
        if (types.isEmpty()) {
            return List.of();
        }
        String marks = String.join(", ", java.util.Collections.nCopies(types.size(), "?"));
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement("SELECT version, status, state_json, deadline_at,"
                    + " updated_at, process_type, process_id FROM " + processTable
                    + " WHERE deadline_at <= ? AND process_type IN (" + marks + ") AND status IN ('"
                    + ProcessStatus.RUNNING + "', '" + ProcessStatus.COMPENSATING + "') ORDER BY deadline_at LIMIT "
                    + Math.max(1, limit))) {
                ps.setLong(1, now.toEpochMilli());
                int i = 2;
                for (String t : types) {
                    ps.setString(i++, t);
                }
                List<ProcessInstance> out = new ArrayList<>();
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        out.add(instance(rs.getString(6), rs.getString(7), rs));
                    }
                }
                return out;
            }
        } catch (SQLException e) {
            throw failure("find due process deadlines", e);
        }
    }

    @Override
    public boolean publishesEmitted() {
        return outbox != null;
    }

    /**
     * Deletes processes that finished (completed, compensated, timed out) more than {@code olderThan} ago, and the
     * ids of the messages they applied. Blocks; one transaction per 500 processes.
     *
     * @return processes deleted
     */
    public long purgeFinished(Duration olderThan) {
        long cutoff = System.currentTimeMillis() - olderThan.toMillis();
        String finished = "'" + ProcessStatus.COMPLETED + "', '" + ProcessStatus.COMPENSATED + "', '"
                + ProcessStatus.TIMED_OUT + "'";
        long deleted = 0;
        try (Connection c = dataSource.getConnection()) {
            while (true) {
                List<String[]> keys = new ArrayList<>();
                c.setAutoCommit(true);
                try (PreparedStatement ps = c.prepareStatement("SELECT process_type, process_id FROM " + processTable
                        + " WHERE status IN (" + finished + ") AND updated_at < ? LIMIT 500")) {
                    ps.setLong(1, cutoff);
                    try (ResultSet rs = ps.executeQuery()) {
                        while (rs.next()) {
                            keys.add(new String[] {rs.getString(1), rs.getString(2)});
                        }
                    }
                }
                if (keys.isEmpty()) {
                    return deleted;
                }
                c.setAutoCommit(false);
                try (PreparedStatement m = c.prepareStatement("DELETE FROM " + messageTable
                        + " WHERE process_type = ? AND process_id = ?");
                     PreparedStatement p = c.prepareStatement("DELETE FROM " + processTable
                             + " WHERE process_type = ? AND process_id = ? AND status IN (" + finished + ")")) {
                    for (String[] k : keys) {
                        m.setString(1, k[0]);
                        m.setString(2, k[1]);
                        m.addBatch();
                        p.setString(1, k[0]);
                        p.setString(2, k[1]);
                        p.addBatch();
                    }
                    m.executeBatch();
                    p.executeBatch();
                    c.commit();
                } catch (SQLException e) {
                    rollbackQuietly(c);
                    throw e;
                } finally {
                    c.setAutoCommit(true);
                }
                deleted += keys.size();
            }
        } catch (SQLException e) {
            throw failure("purge finished processes", e);
        }
    }

    @Override
    public String toString() {
        return "JdbcProcessStore{" + dialect + ", " + processTable + (outbox != null ? ", with outbox" : "") + '}';
    }

    /** Unique or primary key violation: SQLState class 23 on H2 (23505), PostgreSQL (23505) and MariaDB (23000). */
    private static boolean isDuplicateKey(SQLException e) {
        String state = e.getSQLState();
        return state != null && (state.equals("23505") || state.equals("23000"));
    }

    private static void rollbackQuietly(Connection c) {
        try {
            c.rollback();
        } catch (SQLException ignored) {
            // the original failure is the one worth reporting
        }
    }

    private static EventBusException failure(String what, SQLException e) {
        String state = e.getSQLState();
        // connection problems (08), serialization failures and deadlocks (40), lock timeouts: worth a retry
        boolean transientFailure = e instanceof java.sql.SQLTransientException
                || e instanceof java.sql.SQLRecoverableException
                || (state != null && (state.startsWith("08") || state.startsWith("40") || state.equals("HYT00")
                || state.equals("55P03")));
        return new EventBusException("cannot " + what + ": " + e.getMessage(), e, transientFailure);
    }

    /** Builds a {@link JdbcProcessStore}. Not thread-safe. */
    public static final class Builder {
        private final DataSource dataSource;
        private Outbox outbox;
        private JdbcDialect dialect;
        private String prefix = JdbcConfig.DEFAULT_TABLE_PREFIX;
        private SchemaMode schemaMode = SchemaMode.EMBEDDED;

        private Builder(DataSource dataSource) {
            this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        }

        /**
         * The outbox (built with the bus, on the same database) the emitted events are written to, in the state's
         * transaction. Without one, they are published after the commit.
         */
        public Builder outbox(Outbox outbox) {
            this.outbox = Objects.requireNonNull(outbox, "outbox");
            return this;
        }

        /** The dialect; default: detected from the database. */
        public Builder dialect(JdbcDialect dialect) {
            this.dialect = Objects.requireNonNull(dialect, "dialect");
            return this;
        }

        /** The table prefix ({@code eventbus.jdbc.table-prefix}); default {@code eventbus_}. */
        public Builder tablePrefix(String prefix) {
            this.prefix = ProcessTables.validPrefix(prefix);
            return this;
        }

        /** Whether to create the tables ({@code eventbus.jdbc.create-schema}); default: on embedded databases. */
        public Builder schemaMode(SchemaMode mode) {
            this.schemaMode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /** Reads {@code eventbus.jdbc.table-prefix} and {@code eventbus.jdbc.create-schema} from {@code config}. */
        public Builder config(Map<String, String> config) {
            String p = config.get(JdbcConfig.TABLE_PREFIX);
            if (p != null) {
                tablePrefix(p.trim());
            }
            String mode = config.get(JdbcConfig.CREATE_SCHEMA);
            if (mode != null) {
                try {
                    schemaMode(SchemaMode.valueOf(mode.trim().toUpperCase(java.util.Locale.ROOT)));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(JdbcConfig.CREATE_SCHEMA + " must be embedded, always or never,"
                            + " was '" + mode + "'");
                }
            }
            return this;
        }

        /**
         * Detects the dialect (unless given) and checks the tables, creating them when the schema mode allows.
         *
         * @throws EventBusException when the database cannot be reached or a table is missing (the message carries
         *                           the DDL)
         */
        public JdbcProcessStore build() {
            JdbcDialect d = dialect != null ? dialect : JdbcDialect.detect(dataSource);
            ProcessTables.ensure(dataSource, d, prefix, schemaMode);
            return new JdbcProcessStore(this, d, prefix);
        }
    }
}
