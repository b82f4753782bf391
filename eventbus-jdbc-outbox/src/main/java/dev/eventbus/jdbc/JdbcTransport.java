package dev.eventbus.jdbc;

import dev.eventbus.ConfigException;
import dev.eventbus.EventBusException;
import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayResult;
import dev.eventbus.jdbc.internal.CursorReplay;
import dev.eventbus.jdbc.internal.DriverManagerDataSource;
import dev.eventbus.jdbc.internal.H2Durability;
import dev.eventbus.jdbc.internal.Jdbc;
import dev.eventbus.jdbc.internal.Leasing;
import dev.eventbus.jdbc.internal.LogAppender;
import dev.eventbus.jdbc.internal.LogDeadLetters;
import dev.eventbus.jdbc.internal.LogRetention;
import dev.eventbus.jdbc.internal.LogStore;
import dev.eventbus.jdbc.internal.LogSubscription;
import dev.eventbus.jdbc.internal.PgListener;
import dev.eventbus.jdbc.internal.Schema;
import dev.eventbus.jdbc.internal.TransportSettings;
import dev.eventbus.jdbc.internal.Wakeups;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportContext;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import javax.sql.DataSource;

/**
 * The database as a broker ({@code eventbus.transport=jdbc}): an append-only log table with a gapless,
 * commit-ordered sequence per stream, and one cursor per (group, stream, partition).
 *
 * <h2>Semantics</h2>
 * <ul>
 *   <li>{@link #send} completes when the row is committed. Sends are written by one thread per transport, many
 *       per transaction (group commit), in send order; {@link #sendBatch} is one transaction (all or nothing).</li>
 *   <li>Every group gets every message; instances of a group share the stream's partitions (keys are hashed
 *       onto them) through leases, so one key is handled by one instance at a time, in commit order.</li>
 *   <li>{@code RETRY} and delayed sends wait in a retry table without holding up other messages; {@code DEAD}
 *       goes to a dead-letter table ({@link #deadLetters()} lists and replays). A handler that throws, or an
 *       instance that dies before committing its cursor, means redelivery (at least once).</li>
 *   <li>Committed but not yet visible events are never skipped: appenders take sequence numbers by updating
 *       the stream's row, whose lock they hold until commit, so sequence order is commit order and a consumer
 *       reading up to the committed head can never later find a smaller sequence appear behind its cursor.</li>
 *   <li>{@link #replay(String, String, ReplayFrom)} moves a group's cursors back (or forward) to a time or a
 *       sequence number, while it runs.</li>
 * </ul>
 *
 * <h2>Resources</h2>
 * Holds one connection for appending, one per subscription, and on PostgreSQL one for {@code LISTEN}; a daemon
 * thread for each of these, plus {@link SubscriptionRequest#concurrency()} handler threads per subscription, and
 * one for retention. All are released by {@link #close(Duration)}, which must be called.
 *
 * <p>Thread-safe. {@link #send} does not block (beyond queueing); {@link #subscribe} blocks while it registers the
 * subscription and takes its first partitions. Failures surface as {@link EventBusException}s ({@link
 * EventBusException#isRetriable() retriable} when the database could not be reached).
 */
public final class JdbcTransport implements Transport, dev.eventbus.spi.HealthCheck {

    private static final Logger log = LoggerFactory.getLogger(JdbcTransport.class);
    private static final Set<Capability> CAPABILITIES = Collections.unmodifiableSet(EnumSet.of(
            Capability.DURABLE, Capability.COMPETING_CONSUMERS, Capability.PER_KEY_ORDER,
            Capability.DELAYED_DELIVERY, Capability.TRANSACTIONAL_BATCH, Capability.DEAD_LETTER_STORE,
            Capability.REDELIVERY_AFTER_CRASH, Capability.REPLAY));

    private final LogStore store;
    private final LogAppender appender;
    private final LogDeadLetters deadLetters;
    private final PgListener listener;
    private final ScheduledExecutorService housekeeping;
    private final CopyOnWriteArrayList<LogSubscription> subscriptions = new CopyOnWriteArrayList<>();
    private final String instanceId;
    /** On H2: a connection held open so the database (and its WRITE_DELAY=0) stays open while we run. */
    private final Connection h2Keeper;
    private volatile boolean closed;

    private JdbcTransport(DataSource dataSource, JdbcDialect dialect, TransportSettings settings) {
        this.h2Keeper = dialect == JdbcDialect.H2 ? h2Keeper(dataSource) : null;
        String database;
        try (Connection c = dataSource.getConnection()) {
            database = dialect + "|" + c.getMetaData().getURL() + "|" + settings.prefix();
            Schema.ensure(dataSource, dialect, settings.prefix(), "transport", settings.schemaMode(),
                    List.of(settings.stream(), settings.log(), settings.cursor(), settings.member(),
                            settings.retry(), settings.deadLetter()));
        } catch (SQLException e) {
            Jdbc.closeQuietly(h2Keeper);
            throw new EventBusException("cannot connect to the database: " + e.getMessage(), e, true);
        } catch (RuntimeException e) {
            Jdbc.closeQuietly(h2Keeper);
            throw e;
        }
        this.store = new LogStore(dataSource, dialect, settings, database);
        this.instanceId = Leasing.holderId(80);
        this.appender = new LogAppender(store, settings.prefix());
        this.deadLetters = new LogDeadLetters(store);
        this.listener = dialect == JdbcDialect.POSTGRESQL && settings.listenNotify()
                ? new PgListener(dataSource, settings.channel(), database) : null;
        ScheduledThreadPoolExecutor ses = new ScheduledThreadPoolExecutor(1, r -> {
            Thread t = new Thread(r, "eventbus-jdbc-retention-" + settings.prefix());
            t.setDaemon(true);
            return t;
        });
        ses.setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        this.housekeeping = ses;
        long every = settings.retentionInterval().toMillis();
        housekeeping.scheduleWithFixedDelay(this::retention, every, every, TimeUnit.MILLISECONDS);
    }

    private static Connection h2Keeper(DataSource dataSource) {
        try {
            Connection c = dataSource.getConnection();
            c.setAutoCommit(true);
            H2Durability.check(c, true, "jdbc transport");
            return c;
        } catch (SQLException e) {
            throw new EventBusException("cannot connect to the database: " + e.getMessage(), e, true);
        }
    }

    /** A transport with default settings (prefix {@value JdbcConfig#DEFAULT_TABLE_PREFIX}, dialect detected). */
    public static JdbcTransport create(DataSource dataSource) {
        return builder(dataSource).build();
    }

    /** A builder for a transport on {@code dataSource} (a pool or a plain data source; the driver is yours). */
    public static Builder builder(DataSource dataSource) {
        return new Builder(Objects.requireNonNull(dataSource, "dataSource"));
    }

    /**
     * A transport configured by {@code eventbus.jdbc.*} keys (see {@link JdbcConfig}); without
     * {@link JdbcConfig#URL} it opens the H2 file database {@value JdbcConfig#DEFAULT_URL}. Blocks while it
     * connects, at most about {@link JdbcConfig#CONNECT_TIMEOUT} per connection it opens.
     *
     * @throws ConfigException naming the key when a value is invalid, or naming {@link JdbcConfig#URL} and the
     *                         driver's artifact when no driver on the classpath accepts the URL
     * @throws EventBusException (retriable) when the database cannot be reached; the message names
     *                           {@link JdbcConfig#URL} (without credentials) and {@link JdbcConfig#CONNECT_TIMEOUT}
     */
    public static JdbcTransport fromConfig(Map<String, String> config) {
        JdbcConfig.checkKnown(config);
        TransportContext ctx = new TransportContext("eventbus", config);
        String url = ctx.get(JdbcConfig.URL, JdbcConfig.DEFAULT_URL);
        if (!url.startsWith("jdbc:")) {
            throw new ConfigException(JdbcConfig.URL, url, "a JDBC URL starting with jdbc:");
        }
        Duration timeout = ctx.getDuration(JdbcConfig.CONNECT_TIMEOUT,
                TransportContext.parseDuration(JdbcConfig.CONNECT_TIMEOUT, JdbcConfig.DEFAULT_CONNECT_TIMEOUT));
        if (timeout.isZero() || timeout.isNegative()) {
            throw new ConfigException(JdbcConfig.CONNECT_TIMEOUT, ctx.get(JdbcConfig.CONNECT_TIMEOUT),
                    "a positive duration");
        }
        DriverManagerDataSource ds = new DriverManagerDataSource(url, ctx.get(JdbcConfig.USER),
                ctx.get(JdbcConfig.PASSWORD), timeout);
        ds.checkDriver(ctx.get(JdbcConfig.URL) == null);
        return builder(ds).config(config).build();
    }

    @Override
    public String name() {
        return "jdbc";
    }

    @Override
    public Set<Capability> capabilities() {
        return CAPABILITIES;
    }

    /** The dialect in use. */
    public JdbcDialect dialect() {
        return store.dialect;
    }

    /** The table prefix in use. */
    public String tablePrefix() {
        return store.settings.prefix();
    }

    @Override
    public CompletableFuture<Void> send(TransportMessage message) {
        Objects.requireNonNull(message, "message");
        if (closed) {
            return CompletableFuture.failedFuture(new IllegalStateException("the jdbc transport is closed"));
        }
        return appender.append(List.of(message));
    }

    /** All in one transaction: every message is committed, or none is. */
    @Override
    public CompletableFuture<Void> sendBatch(List<TransportMessage> messages) {
        if (closed) {
            return CompletableFuture.failedFuture(new IllegalStateException("the jdbc transport is closed"));
        }
        return appender.append(List.copyOf(messages));
    }

    @Override
    public TransportSubscription subscribe(SubscriptionRequest request, MessageHandler handler) {
        Objects.requireNonNull(request, "request");
        Objects.requireNonNull(handler, "handler");
        if (closed) {
            throw new IllegalStateException("the jdbc transport is closed");
        }
        if (request.group().length() > 200 || request.stream().length() > 200) {
            throw new IllegalArgumentException("group and stream names are limited to 200 characters");
        }
        LogSubscription[] holder = new LogSubscription[1];
        LogSubscription s = new LogSubscription(store, request, handler,
                instanceId + "#" + UUID.randomUUID().toString().substring(0, 6),
                () -> subscriptions.remove(holder[0]));
        holder[0] = s;
        subscriptions.add(s);
        return s;
    }

    @Override
    public DeadLetterStore deadLetters() {
        return deadLetters;
    }

    /**
     * Moves {@code group}'s cursors on {@code stream} (every partition, or those {@code from} names) and returns
     * where each was and is now; positions are sequence numbers, the one read next. {@link ReplayFrom#time} finds the
     * first event appended at or after the time (a scan of the stream's rows: an operator's action, not a hot path);
     * a time after the last event, or a position past it, means the end. The new positions are committed when this
     * returns. Every instance holding the group's partitions, here or elsewhere, notices the changed cursor epoch at
     * its next heartbeat ({@link JdbcConfig#HEARTBEAT_INTERVAL}; this transport's own subscriptions at once) and
     * starts those partitions over from there: messages it had in flight are not committed, and are handled again
     * when they lie after the new position. Retries waiting in the retry table and dead letters are not moved.
     *
     * @throws IllegalArgumentException when the group has never read the stream here (no cursor rows), or a named
     *                                  partition does not exist
     * @throws EventBusException        when the database fails
     */
    @Override
    public ReplayResult replay(String group, String stream, ReplayFrom from) {
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(from, "from");
        if (closed) {
            throw new IllegalStateException("the jdbc transport is closed");
        }
        List<ReplayResult.Move> moves;
        try (Connection c = store.dataSource.getConnection()) {
            moves = CursorReplay.move(store, c, name(), group, stream, from);
        } catch (SQLException e) {
            throw new EventBusException("cannot replay group '" + group + "' on '" + stream + "': " + e.getMessage(),
                    e, Jdbc.isTransient(e));
        }
        log.info("group '{}' on stream '{}' replays from {}: {}", group, stream, from, moves);
        for (LogSubscription s : subscriptions) {
            if (s.reads(group, stream)) {
                s.heartbeatNow();
            }
        }
        Wakeups.wake(store.database, stream);
        return new ReplayResult(group, from, moves);
    }

    /** Runs log retention now (it also runs every {@link JdbcConfig#RETENTION_INTERVAL}); returns rows deleted. */
    public long runRetention() {
        try (Connection c = store.dataSource.getConnection()) {
            c.setAutoCommit(true);
            return LogRetention.run(store, c, System.currentTimeMillis());
        } catch (SQLException e) {
            throw new EventBusException("log retention failed: " + e.getMessage(), e, Jdbc.isTransient(e));
        }
    }

    private void retention() {
        try {
            runRetention();
        } catch (RuntimeException e) {
            log.warn("log retention failed; will try again: {}", e.toString());
        }
    }

    @Override
    public void close(Duration timeout) {
        if (closed) {
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + timeout.toNanos();
        for (LogSubscription s : subscriptions) {
            s.close(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
        }
        appender.close(Math.max(100, (deadline - System.nanoTime()) / 1_000_000));
        if (listener != null) {
            listener.close();
        }
        housekeeping.shutdownNow();
        Jdbc.closeQuietly(h2Keeper);
    }

    @Override
    public String toString() {
        return "JdbcTransport{" + store.dialect + ", prefix=" + store.settings.prefix() + '}';
    }

    /**
     * Builds a {@link JdbcTransport}. Each setting may be given once; validation happens in {@link #build()}.
     *
     * <p>Not thread-safe; use from one thread.
     */
    public static final class Builder {
        private final DataSource dataSource;
        private JdbcDialect dialect;
        private String prefix = JdbcConfig.DEFAULT_TABLE_PREFIX;
        private SchemaMode schemaMode = SchemaMode.EMBEDDED;
        private int partitions = 16;
        private int fetchSize = 256;
        private Duration pollInterval = Duration.ofMillis(500);
        private Duration lease = Duration.ofSeconds(30);
        private Duration heartbeat = Duration.ofSeconds(1);
        private Duration commitInterval = Duration.ofMillis(100);
        private Duration retention = Duration.ofDays(7);
        private Duration retentionInterval = Duration.ofMinutes(1);
        private boolean earliest = true;
        private boolean notify = true;

        private Builder(DataSource dataSource) {
            this.dataSource = dataSource;
        }

        /** Reads every {@code eventbus.jdbc.*} transport key present in {@code config} (see {@link JdbcConfig}). */
        public Builder config(Map<String, String> config) {
            ConfigReader r = new ConfigReader(config);
            TransportContext ctx = r.ctx;
            dialect = r.dialect(dialect);
            prefix = r.prefix(prefix);
            schemaMode = r.schemaMode(schemaMode);
            partitions = r.integer(JdbcConfig.PARTITIONS, partitions, 1, 1024);
            fetchSize = r.integer(JdbcConfig.FETCH_SIZE, fetchSize, 1, 10_000);
            pollInterval = r.positive(JdbcConfig.POLL_INTERVAL, pollInterval);
            lease = r.positive(JdbcConfig.LEASE, lease);
            heartbeat = r.positive(JdbcConfig.HEARTBEAT_INTERVAL, heartbeat);
            commitInterval = ctx.getDuration(JdbcConfig.COMMIT_INTERVAL, commitInterval);
            retention = ctx.getDuration(JdbcConfig.RETENTION, retention);
            retentionInterval = r.positive(JdbcConfig.RETENTION_INTERVAL, retentionInterval);
            String start = ctx.get(JdbcConfig.START_POSITION);
            if (start != null) {
                switch (start.toLowerCase(Locale.ROOT)) {
                    case "earliest":
                        earliest = true;
                        break;
                    case "latest":
                        earliest = false;
                        break;
                    default:
                        throw new ConfigException(JdbcConfig.START_POSITION, start, "earliest or latest");
                }
            }
            notify = ctx.getBoolean(JdbcConfig.NOTIFY, notify);
            if (heartbeat.compareTo(lease) >= 0) {
                throw new ConfigException(JdbcConfig.HEARTBEAT_INTERVAL, heartbeat.toString(),
                        "a duration shorter than " + JdbcConfig.LEASE + " (" + lease + ")");
            }
            return this;
        }

        /** The SQL dialect; default: detected from the database. */
        public Builder dialect(JdbcDialect dialect) {
            this.dialect = Objects.requireNonNull(dialect, "dialect");
            return this;
        }

        /** The table prefix ({@link JdbcConfig#TABLE_PREFIX}); validated. */
        public Builder tablePrefix(String prefix) {
            this.prefix = Schema.validPrefix(prefix);
            return this;
        }

        /** Whether to create missing tables at start ({@link JdbcConfig#CREATE_SCHEMA}). */
        public Builder schemaMode(SchemaMode mode) {
            this.schemaMode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /** Partitions of streams this transport creates ({@link JdbcConfig#PARTITIONS}). */
        public Builder partitions(int partitions) {
            if (partitions < 1 || partitions > 1024) {
                throw new IllegalArgumentException("partitions must be from 1 to 1024, was " + partitions);
            }
            this.partitions = partitions;
            return this;
        }

        /** Rows read per query per subscription ({@link JdbcConfig#FETCH_SIZE}). */
        public Builder fetchSize(int fetchSize) {
            if (fetchSize < 1) {
                throw new IllegalArgumentException("fetchSize must be >= 1, was " + fetchSize);
            }
            this.fetchSize = fetchSize;
            return this;
        }

        /** Longest idle pause between polls ({@link JdbcConfig#POLL_INTERVAL}). */
        public Builder pollInterval(Duration max) {
            this.pollInterval = Leasing.positive(max, "pollInterval");
            return this;
        }

        /** Lease on partitions ({@link JdbcConfig#LEASE}) and heartbeat ({@link JdbcConfig#HEARTBEAT_INTERVAL}). */
        public Builder lease(Duration lease, Duration heartbeat) {
            this.lease = Leasing.positive(lease, "lease");
            this.heartbeat = Leasing.positive(heartbeat, "heartbeat");
            Leasing.checkHeartbeat(lease, heartbeat);
            return this;
        }

        /** How often cursors are committed while messages flow ({@link JdbcConfig#COMMIT_INTERVAL}). */
        public Builder commitInterval(Duration interval) {
            this.commitInterval = Objects.requireNonNull(interval, "interval");
            return this;
        }

        /** Log retention and how often it runs ({@link JdbcConfig#RETENTION}). */
        public Builder retention(Duration retention, Duration every) {
            this.retention = Objects.requireNonNull(retention, "retention");
            this.retentionInterval = Leasing.positive(every, "every");
            return this;
        }

        /** Whether a new group starts at the earliest retained event (default) or at the end of the log. */
        public Builder startAtEarliest(boolean earliest) {
            this.earliest = earliest;
            return this;
        }

        /** Whether to use PostgreSQL {@code LISTEN/NOTIFY} ({@link JdbcConfig#NOTIFY}). */
        public Builder listenNotify(boolean notify) {
            this.notify = notify;
            return this;
        }

        /**
         * Connects, checks (or creates) the tables and starts the transport.
         *
         * @throws EventBusException when the database cannot be reached or a table is missing (the message
         *                           carries the DDL to run)
         */
        public JdbcTransport build() {
            JdbcDialect d = dialect != null ? dialect : JdbcDialect.detect(dataSource);
            TransportSettings s = new TransportSettings(prefix, schemaMode, partitions, fetchSize,
                    Duration.ofMillis(Math.min(5, pollInterval.toMillis())), pollInterval, lease, heartbeat,
                    commitInterval, retention, retentionInterval, earliest, notify, 1000);
            return new JdbcTransport(dataSource, d, s);
        }
    }

    /** Up when a connection from the data source is valid within {@code timeout}; never throws. */
    @Override
    public dev.eventbus.spi.HealthCheck.Result check(Duration timeout) {
        Map<String, Object> details = Map.of("dialect", String.valueOf(store.dialect),
                "tablePrefix", store.settings.prefix());
        if (closed) {
            return dev.eventbus.spi.HealthCheck.Result.down("transport closed", details);
        }
        try (Connection c = store.dataSource.getConnection()) {
            int seconds = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toSeconds()));
            return c.isValid(seconds) ? dev.eventbus.spi.HealthCheck.Result.up(details)
                    : dev.eventbus.spi.HealthCheck.Result.down("connection not valid", details);
        } catch (SQLException | RuntimeException e) {
            return dev.eventbus.spi.HealthCheck.Result.down(e.toString(), details);
        }
    }
}
