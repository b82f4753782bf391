package dev.eventbus.jdbc;

import dev.eventbus.EventBusException;
import dev.eventbus.jdbc.internal.Jdbc;
import dev.eventbus.jdbc.internal.Leasing;
import dev.eventbus.jdbc.internal.PartitionLeases;
import dev.eventbus.jdbc.internal.Schema;
import dev.eventbus.jdbc.internal.Signal;
import dev.eventbus.jdbc.internal.relay.Bookkeeping;
import dev.eventbus.jdbc.internal.relay.Claims;
import dev.eventbus.jdbc.internal.relay.RelayRow;
import dev.eventbus.jdbc.internal.relay.RelaySettings;
import dev.eventbus.jdbc.internal.relay.SendResult;
import dev.eventbus.jdbc.internal.relay.Sends;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.Transport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import javax.sql.DataSource;

/**
 * The sending half of the transactional outbox: moves committed outbox rows to a target {@link Transport}
 * (Kafka, RabbitMQ, the JDBC transport, in memory, anything) in batches, and marks a row published only after the
 * target acknowledged it.
 *
 * <h2>Several relays, per-key order</h2>
 * Keys are hashed onto N partitions ({@code key_hash mod N}); relays (one per application instance, or more)
 * share the partitions through leases, each taking a fair share and claiming them with
 * {@code FOR UPDATE SKIP LOCKED}, so exactly one relay sends a given key at any time. Within its partitions a
 * relay reads unfinished rows in id order and sends the rows of one key one after the other (the next only after
 * the target acknowledged the previous), and never sends a row while an older row of its key is unfinished
 * (waiting for a retry). Rows of other keys go concurrently. A send the target has not answered when the round
 * ends ({@link JdbcConfig#OUTBOX_SEND_TIMEOUT}) is waited for, not repeated: its row and the later rows of its key
 * go on once the answer comes, or are sent again after a lease without one. If a relay dies, its leases expire and
 * another relay resends its in-flight rows, oldest first: delivery is at least once, in order per key.
 *
 * <h2>Row states</h2>
 * {@code pending} → {@code published}; a failed send makes a row {@code failed} ({@code attempts},
 * {@code last_error}, {@code next_attempt_at}, backoff doubling from {@link JdbcConfig#OUTBOX_BACKOFF}) and, after
 * {@link JdbcConfig#OUTBOX_MAX_ATTEMPTS}, {@code abandoned}, so a poison row never starves the rest. A row being
 * sent is in flight under its relay's partition lease (the lease row records the highest id in flight and
 * expires if the relay dies); the view {@code <prefix>outbox_status} shows it as {@code in_flight} with the
 * relay and the lease's expiry. Rows are not rewritten to mark them in flight: that would double the writes per
 * event. When every send of a round fails with a retriable error the target is considered down: rows keep their
 * state and attempt count and the relay backs off. Published rows are deleted after
 * {@link JdbcConfig#OUTBOX_RETENTION}, in batches of 1,000. On PostgreSQL the relay's own bookkeeping commits
 * asynchronously ({@code synchronous_commit = off} for its transactions only): a database crash can forget that
 * the last rows were published, so they are sent again; nothing is lost.
 *
 * <p>Each round's steps live in {@code dev.eventbus.jdbc.internal.relay}: {@code Claims} (which rows go now),
 * {@code Sends} (to the target) and {@code Bookkeeping} (what became of them).
 *
 * <p>Thread-safe. Runs one daemon thread (and one for chained sends) and holds one connection while started;
 * {@link #close(Duration)} must be called (it finishes the current round, hands the partitions over and releases
 * the connection). {@link #purgeNow()} and {@link #requeueAbandoned()} block and throw
 * {@link EventBusException} when the database fails.
 */
public final class OutboxRelay implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(OutboxRelay.class);

    private final DataSource dataSource;
    private final Transport target;
    private final RelaySettings s;
    private final String relayId;
    private final PartitionLeases leases;
    private final Claims claims;
    private final Sends sends;
    private final Bookkeeping books;
    private final Signal signal = new Signal();
    private final ExecutorService sendExecutor;
    private final Thread thread;
    private final CountDownLatch finished = new CountDownLatch(1);
    private final AtomicLong rounds = new AtomicLong();
    private volatile boolean closing;
    private volatile boolean halted;

    // Relay thread only.
    private Connection conn;
    private long nextHeartbeat;
    private long leaseValidUntil;
    private long nextRetention;
    private long idleMillis;
    private int dbFailures;

    /** Counters since start. Immutable snapshot. */
    public record Stats(long published, long failed, long abandoned, long outages, long rounds) {
    }

    private OutboxRelay(DataSource dataSource, Transport target, JdbcDialect dialect, RelaySettings s, String name) {
        this.dataSource = dataSource;
        this.target = target;
        this.s = s;
        this.relayId = name;
        boolean targetDelays = target.capabilities().contains(Capability.DELAYED_DELIVERY);
        this.leases = new PartitionLeases(dialect, s.leaseTable(), s.relayTable(), RelaySettings.GROUP,
                RelaySettings.SCOPE, relayId, s.partitions(), s.lease().toMillis());
        try {
            conn = dataSource.getConnection();
            conn.setAutoCommit(true);
            checkPartitions(conn);
            leases.ensureRows(conn, 0, System.currentTimeMillis());
        } catch (SQLException e) {
            Jdbc.closeQuietly(conn);
            throw new EventBusException("cannot start the outbox relay: " + e.getMessage(), e, Jdbc.isTransient(e));
        }
        this.sendExecutor = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "eventbus-outbox-send-" + relayId);
            t.setDaemon(true);
            return t;
        });
        this.claims = new Claims(dialect, s, relayId, targetDelays);
        this.sends = new Sends(target, targetDelays, sendExecutor, signal, relayId, s.lease().toMillis(),
                () -> halted);
        this.books = new Bookkeeping(dialect, s, relayId);
        this.thread = new Thread(this::run, "eventbus-outbox-relay-" + relayId);
        this.thread.setDaemon(true);
        this.thread.start();
    }

    /** A builder for a relay from the outbox on {@code dataSource} to {@code target}. */
    public static Builder builder(DataSource dataSource, Transport target) {
        return new Builder(Objects.requireNonNull(dataSource, "dataSource"), Objects.requireNonNull(target, "target"));
    }

    /** This relay's id in the lease tables (the {@code lease_owner} of its rows in {@code <prefix>outbox_status}). */
    public String relayId() {
        return relayId;
    }

    /** Counters since start. */
    public Stats stats() {
        return new Stats(books.published.get(), books.failed.get(), books.abandoned.get(), books.outages.get(),
                rounds.get());
    }

    /** Asks the relay to look for new rows now instead of at its next poll (e.g. right after a commit). */
    public void wakeUp() {
        signal.signal();
    }

    private void checkPartitions(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM " + s.leaseTable()
                + " WHERE group_name = ? AND stream = ?")) {
            ps.setString(1, RelaySettings.GROUP);
            ps.setString(2, RelaySettings.SCOPE);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                int n = rs.getInt(1);
                if (n != 0 && n != s.partitions()) {
                    throw new dev.eventbus.ConfigException(JdbcConfig.OUTBOX_PARTITIONS,
                            Integer.toString(s.partitions()), n + ", the partition count the relays of "
                            + s.outbox() + " already use (relays with different counts would break per-key order)");
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------- main loop

    private void run() {
        idleMillis = 5;
        try {
            while (!closing && !halted) {
                long wait;
                try {
                    wait = round();
                    dbFailures = 0;
                } catch (VirtualMachineError fatal) {
                    throw fatal;
                } catch (Throwable e) {
                    // Anything, not only SQLException: pgjdbc throws an AssertionError when the connection dies in
                    // the middle of a batch, and the relay must outlive its connection.
                    if (halted) {
                        break;
                    }
                    dbFailures++;
                    wait = Math.min(Math.max(1_000, s.maxBackoff().toMillis() / 10), 100L << Math.min(dbFailures, 8));
                    if (dbFailures == 1 || dbFailures % 20 == 0) {
                        log.warn("outbox relay {}: database error ({} in a row), retrying in {} ms: {}", relayId,
                                dbFailures, wait, e.toString());
                    }
                    Jdbc.closeQuietly(conn);
                    conn = null;
                }
                if (wait > 0 && !closing && !halted) {
                    signal.await(wait);
                }
            }
            if (!halted) {
                try {
                    leases.leave(connection(), System.currentTimeMillis());
                } catch (SQLException e) {
                    log.warn("outbox relay {}: could not hand its partitions over on close ({}); they are taken over"
                            + " when the lease expires", relayId, e.toString());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable t) {
            log.error("outbox relay {} died", relayId, t);
        } finally {
            Jdbc.closeQuietly(conn);
            sendExecutor.shutdown();
            finished.countDown();
        }
    }

    private Connection connection() throws SQLException {
        if (conn == null) {
            conn = dataSource.getConnection();
            conn.setAutoCommit(true);
        }
        return conn;
    }

    /**
     * One round: heartbeat when due, record late acknowledgements, claim a batch ({@link Claims}), send it
     * ({@link Sends}), record the outcome ({@link Bookkeeping}). Returns how long to sleep.
     */
    private long round() throws SQLException, InterruptedException {
        Connection c = connection();
        long now = System.currentTimeMillis();
        if (now >= nextHeartbeat) {
            // Between rounds only unanswered sends are in flight: every other partition may be handed over.
            Set<Integer> releasable = new HashSet<>(leases.owned());
            releasable.removeAll(sends.busyPartitions(s.partitions()));
            leases.heartbeat(c, now, releasable);
            leaseValidUntil = now + s.lease().toMillis();
            nextHeartbeat = now + s.heartbeat().toMillis();
        }
        books.recordLate(c, sends.lateAcknowledgements(now));
        Set<Integer> owned = leases.owned();
        if (owned.contains(0) && now >= nextRetention) {
            nextRetention = now + s.retentionInterval().toMillis();
            books.purgePublished(c, now, () -> closing);
        }
        if (owned.isEmpty()) {
            return Math.max(1, nextHeartbeat - now);
        }
        long leaseDeadline = leaseValidUntil - s.lease().toMillis() / 10;
        if (now >= leaseDeadline) {
            nextHeartbeat = now; // renew (or learn we lost the partitions) before sending anything
            return 0;
        }
        List<RelayRow> batch = claims.claim(c, owned, now, sends);
        if (batch.isEmpty()) {
            idleMillis = Math.min(s.pollMax().toMillis(), Math.max(5, idleMillis * 2));
            return Math.max(1, Math.min(idleMillis, nextHeartbeat - now));
        }
        rounds.incrementAndGet();
        idleMillis = 5;
        Map<RelayRow, SendResult> results = sends.sendAll(batch,
                Math.min(now + s.sendTimeout().toMillis(), leaseDeadline), now);
        if (halted) {
            return 0;
        }
        return books.record(c, batch, results);
    }

    // -------------------------------------------------------------------------------------------- operations

    /**
     * Deletes published rows older than the retention now (the relay holding partition 0 also does it every
     * {@link JdbcConfig#RETENTION_INTERVAL}). Blocks.
     *
     * @return rows deleted
     */
    public long purgeNow() {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            long before = books.countPublished(c);
            books.purgePublished(c, System.currentTimeMillis(), () -> closing);
            return before - books.countPublished(c);
        } catch (SQLException e) {
            throw new EventBusException("outbox retention failed: " + e.getMessage(), e, Jdbc.isTransient(e));
        }
    }

    /**
     * Puts abandoned rows back to pending with their attempt count reset (after the cause was fixed). Blocks.
     *
     * @return rows requeued
     */
    public int requeueAbandoned() {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            int n = books.requeueAbandoned(c);
            signal.signal();
            return n;
        } catch (SQLException e) {
            throw new EventBusException("cannot requeue abandoned outbox rows: " + e.getMessage(), e,
                    Jdbc.isTransient(e));
        }
    }

    // --------------------------------------------------------------------------------------------------- close

    /**
     * Finishes the current round (up to {@code timeout}), hands this relay's partitions to the others and
     * releases its thread and connection. Rows in flight that got no answer stay leased and are resent later.
     * Idempotent.
     */
    public void close(Duration timeout) {
        closing = true;
        signal.signal();
        try {
            if (!finished.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                log.warn("outbox relay {} did not stop within {}", relayId, timeout);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** {@link #close(Duration)} with 30 seconds. */
    @Override
    public void close() {
        close(Duration.ofSeconds(30));
    }

    /**
     * For tests: stops dead, as if the process had been killed: no more sends, nothing recorded, leases not handed
     * over (they expire).
     */
    void halt() {
        halted = true;
        signal.signal();
        try {
            finished.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "OutboxRelay{" + relayId + ", " + s.outbox() + " -> " + target.name() + '}';
    }

    /**
     * Builds and starts an {@link OutboxRelay}. Not thread-safe.
     */
    public static final class Builder {
        private final DataSource dataSource;
        private final Transport target;
        private JdbcDialect dialect;
        private String prefix = JdbcConfig.DEFAULT_TABLE_PREFIX;
        private SchemaMode schemaMode = SchemaMode.EMBEDDED;
        private String name;
        private int partitions = 16;
        private int batchSize = 500;
        private Duration pollInterval = Duration.ofMillis(500);
        private Duration lease = Duration.ofSeconds(30);
        private Duration heartbeat = Duration.ofSeconds(1);
        private Duration sendTimeout = Duration.ofSeconds(10);
        private int maxAttempts = 10;
        private Duration backoff = Duration.ofSeconds(1);
        private Duration maxBackoff = Duration.ofMinutes(5);
        private Duration retention = Duration.ofHours(24);
        private Duration retentionInterval = Duration.ofMinutes(1);

        private Builder(DataSource dataSource, Transport target) {
            this.dataSource = dataSource;
            this.target = target;
        }

        /** Reads the {@code eventbus.jdbc.outbox.*} keys and the shared ones (see {@link JdbcConfig}). */
        public Builder config(Map<String, String> config) {
            ConfigReader r = new ConfigReader(config);
            dialect = r.dialect(dialect);
            prefix = r.prefix(prefix);
            schemaMode = r.schemaMode(schemaMode);
            partitions = r.integer(JdbcConfig.OUTBOX_PARTITIONS, partitions, 1, 1024);
            batchSize = r.integer(JdbcConfig.OUTBOX_BATCH_SIZE, batchSize, 1, 10_000);
            pollInterval = r.positive(JdbcConfig.OUTBOX_POLL_INTERVAL, pollInterval);
            lease = r.positive(JdbcConfig.OUTBOX_LEASE, lease);
            heartbeat = r.positive(JdbcConfig.HEARTBEAT_INTERVAL, heartbeat);
            retentionInterval = r.positive(JdbcConfig.RETENTION_INTERVAL, retentionInterval);
            sendTimeout = r.positive(JdbcConfig.OUTBOX_SEND_TIMEOUT, sendTimeout);
            maxAttempts = r.integer(JdbcConfig.OUTBOX_MAX_ATTEMPTS, maxAttempts, 1, 1_000);
            backoff = r.positive(JdbcConfig.OUTBOX_BACKOFF, backoff);
            maxBackoff = r.positive(JdbcConfig.OUTBOX_MAX_BACKOFF, maxBackoff);
            retention = r.nonNegative(JdbcConfig.OUTBOX_RETENTION, retention);
            if (sendTimeout.compareTo(lease.dividedBy(2)) > 0) {
                throw new dev.eventbus.ConfigException(JdbcConfig.OUTBOX_SEND_TIMEOUT, sendTimeout.toString(),
                        "at most half of " + JdbcConfig.OUTBOX_LEASE + " (" + lease + ")");
            }
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

        /** This relay's id in the lease tables (default: host/pid/random); at most 100 characters. */
        public Builder name(String name) {
            if (name == null || name.isBlank() || name.length() > 100) {
                throw new IllegalArgumentException("relay name must be 1 to 100 characters, was '" + name + "'");
            }
            this.name = name;
            return this;
        }

        /** Partitions keys are hashed onto; every relay of one outbox must use the same number. Default 16. */
        public Builder partitions(int partitions) {
            if (partitions < 1 || partitions > 1024) {
                throw new IllegalArgumentException("partitions must be from 1 to 1024, was " + partitions);
            }
            this.partitions = partitions;
            return this;
        }

        /** Rows per round. Default 500. */
        public Builder batchSize(int batchSize) {
            if (batchSize < 1) {
                throw new IllegalArgumentException("batchSize must be >= 1, was " + batchSize);
            }
            this.batchSize = batchSize;
            return this;
        }

        /** Longest idle pause between polls. Default 500 ms. */
        public Builder pollInterval(Duration max) {
            this.pollInterval = Leasing.positive(max, "pollInterval");
            return this;
        }

        /** Lease on partitions and in-flight rows, and how often it is renewed. Default 30 s and 1 s. */
        public Builder lease(Duration lease, Duration heartbeat) {
            this.lease = Leasing.positive(lease, "lease");
            this.heartbeat = Leasing.positive(heartbeat, "heartbeat");
            return this;
        }

        /** How long to wait for the target's acknowledgements of one round. Default 10 s; at most half the lease. */
        public Builder sendTimeout(Duration timeout) {
            this.sendTimeout = Leasing.positive(timeout, "sendTimeout");
            return this;
        }

        /** Failed sends of one row before it is abandoned, and the backoff between them. Default 10, 1 s to 5 min. */
        public Builder retries(int maxAttempts, Duration backoff, Duration maxBackoff) {
            if (maxAttempts < 1) {
                throw new IllegalArgumentException("maxAttempts must be >= 1, was " + maxAttempts);
            }
            this.maxAttempts = maxAttempts;
            this.backoff = Leasing.positive(backoff, "backoff");
            this.maxBackoff = Leasing.positive(maxBackoff, "maxBackoff");
            return this;
        }

        /** How long published rows are kept (zero: deleted when published) and how often they are purged. */
        public Builder retention(Duration retention, Duration every) {
            Objects.requireNonNull(retention, "retention");
            if (retention.isNegative()) {
                throw new IllegalArgumentException("retention must not be negative, was " + retention);
            }
            this.retention = retention;
            this.retentionInterval = Leasing.positive(every, "every");
            return this;
        }

        /**
         * Checks (or creates) the outbox tables and starts the relay.
         *
         * @throws EventBusException when the database cannot be reached or a table is missing (with the DDL)
         * @throws dev.eventbus.ConfigException when the partition count differs from the other relays'
         */
        public OutboxRelay build() {
            Leasing.checkHeartbeat(lease, heartbeat);
            if (sendTimeout.compareTo(lease.dividedBy(2)) > 0) {
                throw new IllegalArgumentException("sendTimeout (" + sendTimeout + ") must be at most half the lease ("
                        + lease + ")");
            }
            JdbcDialect d = dialect != null ? dialect : JdbcDialect.detect(dataSource);
            Schema.ensure(dataSource, d, prefix, "outbox", schemaMode,
                    List.of(prefix + "outbox", prefix + "outbox_lease", prefix + "outbox_relay",
                            prefix + "outbox_status"));
            String id = name != null ? name : Leasing.holderId(100);
            RelaySettings s = new RelaySettings(prefix, partitions, batchSize, pollInterval, lease, heartbeat,
                    sendTimeout, maxAttempts, backoff, maxBackoff, retention, retentionInterval);
            return new OutboxRelay(dataSource, target, d, s, id);
        }
    }
}
