package dev.eventbus.jdbc;

import dev.eventbus.ConsumeInterceptor;
import dev.eventbus.EventBusException;
import dev.eventbus.internal.DuplicateCounter;
import dev.eventbus.jdbc.internal.Jdbc;
import dev.eventbus.jdbc.internal.Schema;
import dev.eventbus.jdbc.internal.Sql;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import javax.sql.DataSource;

/**
 * Idempotent consumers: a {@link ConsumeInterceptor} that runs each subscriber invocation in a database
 * transaction which first records (consumer, event id) in the inbox table. The subscriber does its own database
 * work on {@link #connection()}, the same transaction, so the record and the side effects commit together: a
 * redelivered event finds its record and is skipped (counted in {@link #duplicates()} and acknowledged), and a
 * failed handler rolls both back, so the retry runs it again.
 *
 * <pre>{@code
 * Inbox inbox = Inbox.builder(dataSource).build();
 * EventBus bus = EventBus.builder().service("inventory").consumeInterceptor(inbox)...build();
 *
 * @Subscribe void on(OrderPlaced e) throws SQLException {
 *     try (PreparedStatement ps = Inbox.connection().prepareStatement("UPDATE stock SET ...")) { ... }
 * }
 * }</pre>
 *
 * <p>The consumer is the subscriber's group and id ({@code ConsumeInterceptor.Chain#subscriberId()}, stable
 * across restarts), so two subscribers of one group each handle an event once. Records older than
 * {@link JdbcConfig#INBOX_RETENTION} are deleted in bounded batches: that is the window in which duplicates are
 * caught. A concurrent duplicate (the same event handled on two threads at once) waits on the first one's row
 * lock and is then skipped.
 *
 * <p>Thread-safe. Each invocation borrows one connection from the data source for the duration of the handler
 * (use a pool). Runs one daemon thread for retention; {@link #close()} stops it.
 */
public final class Inbox implements ConsumeInterceptor, AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Inbox.class);
    private static final ThreadLocal<Connection> CURRENT = new ThreadLocal<>();
    private static final int PURGE_BATCH = 1_000;
    private static final int MAX_CONSUMER = 200;
    private static final int MAX_EVENT_ID = 100;

    /** A handler's work inside the inbox transaction. */
    @FunctionalInterface
    public interface Work {
        void run(Connection connection) throws Exception;
    }

    private final DataSource dataSource;
    private final JdbcDialect dialect;
    private final String table;
    private final Duration retention;
    private final String insertSql;
    private final ScheduledThreadPoolExecutor purger;
    private final LongAdder handled = new LongAdder();
    private final LongAdder duplicates = new LongAdder();

    private Inbox(DataSource dataSource, JdbcDialect dialect, String prefix, Duration retention, Duration every) {
        this.dataSource = dataSource;
        this.dialect = dialect;
        this.table = prefix + "inbox";
        this.retention = retention;
        this.insertSql = Sql.insertIgnore(dialect, table, "consumer, event_id, handled_at", "?, ?, ?");
        this.purger = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "eventbus-inbox-retention-" + table);
            t.setDaemon(true);
            return t;
        });
        purger.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        purger.scheduleWithFixedDelay(this::purgeQuietly, every.toMillis(), every.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** A builder for an inbox on {@code dataSource} (a pool: every handler invocation borrows a connection). */
    public static Builder builder(DataSource dataSource) {
        return new Builder(Objects.requireNonNull(dataSource, "dataSource"));
    }

    /**
     * The connection of the inbox transaction of the subscriber invocation running on this thread. Use it for
     * the handler's own database work (and for {@link Outbox#publish(Object, java.sql.Connection)}), and do not
     * commit, roll back or close it: the inbox does.
     *
     * @throws IllegalStateException outside a subscriber invocation wrapped by an inbox
     */
    public static Connection connection() {
        Connection c = CURRENT.get();
        if (c == null) {
            throw new IllegalStateException("Inbox.connection() is only available inside a subscriber invoked "
                    + "through an Inbox (add it with EventBus.builder().consumeInterceptor(inbox))");
        }
        return c;
    }

    @Override
    public void intercept(Chain chain) throws Exception {
        String id = chain.envelope().id();
        if (id == null) {
            throw new IllegalStateException("event without an id cannot be deduplicated by the inbox: "
                    + chain.envelope().type());
        }
        if (!handleOnce(chain.group(), chain.subscriberId(), id, c -> chain.proceed())) {
            DuplicateCounter.count(chain); // so the bus's stats().duplicates() shows it too
        }
    }

    /**
     * Runs {@code work} once per (group, subscriber, event id): in a transaction that first records the event in
     * the inbox, committed when {@code work} returns and rolled back when it throws.
     *
     * @return true when {@code work} ran and committed; false for a duplicate (nothing ran)
     * @throws Exception whatever {@code work} threw (after the rollback), or an {@link EventBusException} when the
     *                   database fails
     */
    public boolean handleOnce(String group, String subscriberId, String eventId, Work work) throws Exception {
        Objects.requireNonNull(work, "work");
        String consumer = shorten(group + "/" + subscriberId, MAX_CONSUMER);
        String event = shorten(eventId, MAX_EVENT_ID);
        Connection previous = CURRENT.get();
        try (Connection c = dataSource.getConnection()) {
            boolean auto = c.getAutoCommit();
            if (auto) {
                c.setAutoCommit(false);
            }
            boolean done = false;
            try {
                if (!record(c, consumer, event)) {
                    c.rollback();
                    done = true;
                    duplicates.increment();
                    log.debug("inbox: {} already handled {}; skipped", consumer, event);
                    return false;
                }
                CURRENT.set(c);
                work.run(c);
                c.commit();
                done = true;
                handled.increment();
                return true;
            } finally {
                if (previous == null) {
                    CURRENT.remove();
                } else {
                    CURRENT.set(previous);
                }
                if (!done) {
                    try {
                        c.rollback();
                    } catch (SQLException ignored) {
                        // the original failure is what matters
                    }
                }
                if (auto) {
                    c.setAutoCommit(true);
                }
            }
        } catch (SQLException e) {
            throw new EventBusException("inbox " + table + " failed: " + e.getMessage(), e, Jdbc.isTransient(e));
        }
    }

    /** Inserts the record; false when it exists (possibly after waiting for a concurrent duplicate to commit). */
    private boolean record(Connection c, String consumer, String event) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(insertSql)) {
            ps.setString(1, consumer);
            ps.setString(2, event);
            ps.setLong(3, System.currentTimeMillis());
            return ps.executeUpdate() == 1;
        } catch (SQLException e) {
            if (Jdbc.isDuplicate(e)) {
                return false;
            }
            throw e;
        }
    }

    private static String shorten(String s, int max) {
        if (s.length() <= max) {
            return s;
        }
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
            String hash = HexFormat.of().formatHex(d, 0, 16);
            return s.substring(0, max - hash.length() - 1) + "#" + hash;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is always available", e);
        }
    }

    /** Events handled (committed) through this inbox since it was built. */
    public long handled() {
        return handled.sum();
    }

    /** Duplicates skipped since it was built. */
    public long duplicates() {
        return duplicates.sum();
    }

    /**
     * Deletes records older than the retention, in batches of 1,000, until none is left. Blocks.
     *
     * @return records deleted
     */
    public long purgeExpired() {
        long cutoff = System.currentTimeMillis() - retention.toMillis();
        String sql;
        switch (dialect) {
            case POSTGRESQL:
                sql = "DELETE FROM " + table + " WHERE ctid IN (SELECT ctid FROM " + table
                        + " WHERE handled_at < ? LIMIT " + PURGE_BATCH + ")";
                break;
            default:
                sql = "DELETE FROM " + table + " WHERE handled_at < ? LIMIT " + PURGE_BATCH;
                break;
        }
        long total = 0;
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                while (true) {
                    ps.setLong(1, cutoff);
                    int n = ps.executeUpdate();
                    total += n;
                    if (n < PURGE_BATCH) {
                        return total;
                    }
                }
            }
        } catch (SQLException e) {
            throw new EventBusException("inbox retention failed: " + e.getMessage(), e, Jdbc.isTransient(e));
        }
    }

    private void purgeQuietly() {
        try {
            purgeExpired();
        } catch (RuntimeException e) {
            log.warn("inbox retention failed; will try again: {}", e.toString());
        }
    }

    /** Stops the retention thread. Handlers still running finish normally. */
    @Override
    public void close() {
        purger.shutdownNow();
    }

    @Override
    public String toString() {
        return "Inbox{" + table + ", " + dialect + '}';
    }

    /** Builds an {@link Inbox}. Not thread-safe. */
    public static final class Builder {
        private final DataSource dataSource;
        private JdbcDialect dialect;
        private String prefix = JdbcConfig.DEFAULT_TABLE_PREFIX;
        private SchemaMode schemaMode = SchemaMode.EMBEDDED;
        private Duration retention = Duration.ofDays(7);
        private Duration retentionInterval = Duration.ofMinutes(1);

        private Builder(DataSource dataSource) {
            this.dataSource = dataSource;
        }

        /** Reads {@link JdbcConfig#INBOX_RETENTION} and the shared keys. */
        public Builder config(Map<String, String> config) {
            ConfigReader r = new ConfigReader(config);
            dialect = r.dialect(dialect);
            prefix = r.prefix(prefix);
            schemaMode = r.schemaMode(schemaMode);
            retention = r.positive(JdbcConfig.INBOX_RETENTION, retention);
            retentionInterval = r.positive(JdbcConfig.RETENTION_INTERVAL, retentionInterval);
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

        /** How long records are kept (the duplicate window) and how often expired ones are purged. */
        public Builder retention(Duration retention, Duration every) {
            Objects.requireNonNull(retention, "retention");
            Objects.requireNonNull(every, "every");
            if (retention.isZero() || retention.isNegative() || every.isZero() || every.isNegative()) {
                throw new IllegalArgumentException("retention and its interval must be positive");
            }
            this.retention = retention;
            this.retentionInterval = every;
            return this;
        }

        /**
         * Checks (or creates) the inbox table and starts the retention thread.
         *
         * @throws EventBusException when the database cannot be reached or the table is missing (with the DDL)
         */
        public Inbox build() {
            JdbcDialect d = dialect != null ? dialect : JdbcDialect.detect(dataSource);
            Schema.ensure(dataSource, d, prefix, "inbox", schemaMode, List.of(prefix + "inbox"));
            return new Inbox(dataSource, d, prefix, retention, retentionInterval);
        }
    }
}
