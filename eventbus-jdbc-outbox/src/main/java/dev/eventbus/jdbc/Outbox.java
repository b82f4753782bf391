package dev.eventbus.jdbc;

import dev.eventbus.EventBus;
import dev.eventbus.EventBusException;
import dev.eventbus.PublishOptions;
import dev.eventbus.jdbc.internal.Jdbc;
import dev.eventbus.jdbc.internal.Partitioner;
import dev.eventbus.jdbc.internal.Rows;
import dev.eventbus.jdbc.internal.Schema;
import dev.eventbus.spi.TransportMessage;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import javax.sql.DataSource;

/**
 * The writing half of the transactional outbox: {@link #publish(Object, Connection)} writes an event into the
 * outbox table with the caller's {@link Connection}, inside the caller's transaction, and does nothing else. If
 * the caller rolls back, the event never existed; if it commits, an {@link OutboxRelay} delivers it.
 *
 * <pre>{@code
 * try (Connection c = dataSource.getConnection()) {
 *     c.setAutoCommit(false);
 *     insertOrder(c, order);                                  // your own SQL
 *     outbox.publish(new OrderPlaced(order.id(), ...), c);    // same transaction
 *     c.commit();
 * }
 * }</pre>
 *
 * <p>The row holds exactly the message the bus would have sent ({@link EventBus#messageFor}: publish
 * interceptors, serializer, headers, stream and key), so a relayed event is indistinguishable from one published
 * directly.
 *
 * <p>Thread-safe; holds no connection of its own (the caller's is used and never closed or committed here).
 * {@code publish} blocks for one {@code INSERT}. Nothing to close.
 */
public final class Outbox {

    private final EventBus bus;
    private final JdbcDialect dialect;
    private final String table;
    private final String insertSql;

    private Outbox(EventBus bus, JdbcDialect dialect, String prefix) {
        this.bus = bus;
        this.dialect = dialect;
        this.table = prefix + "outbox";
        this.insertSql = "INSERT INTO " + table + " (key_hash, status, created_at, stream, msg_key, event_id,"
                + " event_type, headers, body, deliver_at, priority) VALUES (?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    }

    /**
     * A builder for an outbox on {@code dataSource}'s database: used once at {@link Builder#build()} to detect the
     * dialect and check (or create) the table, never for publishing.
     */
    public static Builder builder(DataSource dataSource) {
        return new Builder(Objects.requireNonNull(dataSource, "dataSource"));
    }

    /** The outbox table's name. */
    public String table() {
        return table;
    }

    /** The dialect in use. */
    public JdbcDialect dialect() {
        return dialect;
    }

    /**
     * Writes {@code event} into the outbox in the caller's transaction, as {@code bus.publish(event)} would send it.
     *
     * @throws IllegalStateException when the outbox was built without a bus, or {@code connection} is in
     *                               auto-commit mode (the event would be committed on its own, whatever the
     *                               caller's transaction does)
     * @throws EventBusException     when the INSERT fails (the caller's transaction should then roll back)
     */
    public void publish(Object event, Connection connection) {
        publish(event, PublishOptions.none(), connection);
    }

    /** {@link #publish(Object, Connection)} with a key, headers, a delay, another stream or a priority. */
    public void publish(Object event, PublishOptions options, Connection connection) {
        Objects.requireNonNull(event, "event");
        publish(requireBus().messageFor(event, options), connection);
    }

    /** Writes several events in one batch, in order, in the caller's transaction. */
    public void publishAll(Collection<?> events, Connection connection) {
        EventBus b = requireBus();
        List<TransportMessage> messages = new ArrayList<>(events.size());
        for (Object e : events) {
            messages.add(b.messageFor(Objects.requireNonNull(e, "event"), PublishOptions.none()));
        }
        publishMessages(messages, connection);
    }

    /**
     * Writes a ready-made message (SPI level, e.g. from a publish path of your own) into the outbox in the
     * caller's transaction.
     *
     * @throws IllegalStateException when {@code connection} is in auto-commit mode
     * @throws EventBusException     when the INSERT fails
     */
    public void publish(TransportMessage message, Connection connection) {
        Objects.requireNonNull(message, "message");
        requireTransaction(connection);
        try (PreparedStatement ps = connection.prepareStatement(insertSql)) {
            bind(ps, message, System.currentTimeMillis());
            ps.executeUpdate();
        } catch (SQLException e) {
            throw failure(e);
        }
    }

    /** Writes several ready-made messages in one JDBC batch, in order, in the caller's transaction. */
    public void publishMessages(List<TransportMessage> messages, Connection connection) {
        requireTransaction(connection);
        if (messages.isEmpty()) {
            return;
        }
        long now = System.currentTimeMillis();
        try (PreparedStatement ps = connection.prepareStatement(insertSql)) {
            for (TransportMessage m : messages) {
                bind(ps, Objects.requireNonNull(m, "message"), now);
                ps.addBatch();
            }
            ps.executeBatch();
        } catch (SQLException e) {
            throw failure(e);
        }
    }

    private static void bind(PreparedStatement ps, TransportMessage m, long now) throws SQLException {
        ps.setInt(1, Partitioner.hash(m.key()));
        ps.setLong(2, now);
        Rows.bind(ps, 3, m);
    }

    private EventBusException failure(SQLException e) {
        return new EventBusException("could not write to the outbox table " + table + ": " + e.getMessage(), e,
                Jdbc.isTransient(e));
    }

    private static void requireTransaction(Connection connection) {
        Objects.requireNonNull(connection, "connection");
        boolean auto;
        try {
            auto = connection.getAutoCommit();
        } catch (SQLException e) {
            throw new EventBusException("cannot use the connection: " + e.getMessage(), e, Jdbc.isTransient(e));
        }
        if (auto) {
            throw new IllegalStateException("the connection passed to Outbox.publish is in auto-commit mode, so the "
                    + "event would be committed on its own whatever happens to your transaction: call "
                    + "connection.setAutoCommit(false) and commit the business change and the event together");
        }
    }

    private EventBus requireBus() {
        if (bus == null) {
            throw new IllegalStateException("this outbox was built without an EventBus: pass one to "
                    + "Outbox.builder(dataSource).bus(bus), or publish TransportMessages");
        }
        return bus;
    }

    /**
     * How many rows are in each state ({@code pending}, {@code in_flight}, {@code failed}, {@code published},
     * {@code abandoned}), as the view {@code <prefix>outbox_status} shows them, for an operator's dashboard. Runs
     * a {@code GROUP BY} over the view: cheap for a healthy outbox, a scan for a very large one.
     *
     * @throws EventBusException when the query fails
     */
    public Map<String, Long> countByStatus(Connection connection) {
        Map<String, Long> out = new TreeMap<>();
        try (PreparedStatement ps = connection.prepareStatement("SELECT status, COUNT(*) FROM " + table
                + "_status GROUP BY status");
             ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                out.put(rs.getString(1), rs.getLong(2));
            }
            return out;
        } catch (SQLException e) {
            throw new EventBusException("cannot count outbox rows: " + e.getMessage(), e, Jdbc.isTransient(e));
        }
    }

    /**
     * Builds an {@link Outbox}. Not thread-safe.
     */
    public static final class Builder {
        private final DataSource dataSource;
        private EventBus bus;
        private JdbcDialect dialect;
        private String prefix = JdbcConfig.DEFAULT_TABLE_PREFIX;
        private SchemaMode schemaMode = SchemaMode.EMBEDDED;

        private Builder(DataSource dataSource) {
            this.dataSource = dataSource;
        }

        /** The bus whose {@link EventBus#messageFor} turns events into messages. Needed to publish events. */
        public Builder bus(EventBus bus) {
            this.bus = Objects.requireNonNull(bus, "bus");
            return this;
        }

        /** Reads {@link JdbcConfig#DIALECT}, {@link JdbcConfig#TABLE_PREFIX} and {@link JdbcConfig#CREATE_SCHEMA}. */
        public Builder config(Map<String, String> config) {
            ConfigReader r = new ConfigReader(config);
            dialect = r.dialect(dialect);
            prefix = r.prefix(prefix);
            schemaMode = r.schemaMode(schemaMode);
            return this;
        }

        public Builder dialect(JdbcDialect dialect) {
            this.dialect = Objects.requireNonNull(dialect, "dialect");
            return this;
        }

        public Builder tablePrefix(String prefix) {
            this.prefix = Schema.validPrefix(prefix);
            return this;
        }

        public Builder schemaMode(SchemaMode mode) {
            this.schemaMode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /**
         * Checks (or creates) the outbox tables and returns the outbox.
         *
         * @throws EventBusException when the database cannot be reached, or the table is missing (the message
         *                           carries the DDL to run)
         */
        public Outbox build() {
            JdbcDialect d = dialect != null ? dialect : JdbcDialect.detect(dataSource);
            Schema.ensure(dataSource, d, prefix, "outbox", schemaMode,
                    List.of(prefix + "outbox", prefix + "outbox_lease", prefix + "outbox_relay",
                            prefix + "outbox_status"));
            if (d == JdbcDialect.H2) {
                try (java.sql.Connection c = dataSource.getConnection()) {
                    dev.eventbus.jdbc.internal.H2Durability.check(c, false, "outbox");
                } catch (SQLException e) {
                    throw new EventBusException("cannot connect to the database: " + e.getMessage(), e, true);
                }
            }
            return new Outbox(bus, d, prefix);
        }
    }
}
