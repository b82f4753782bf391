package dev.eventbus.jdbc;

import dev.eventbus.EventBusException;
import dev.eventbus.jdbc.internal.Jdbc;
import dev.eventbus.jdbc.internal.PartitionLeases;
import dev.eventbus.jdbc.internal.Rows;
import dev.eventbus.jdbc.internal.Schema;
import dev.eventbus.jdbc.internal.Signal;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
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
 * (waiting for a retry). Rows of other keys go concurrently. If a relay dies, its leases expire and another relay
 * resends its in-flight rows, oldest first: delivery is at least once, in order per key.
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
 * <p>Thread-safe. Runs one daemon thread and holds one connection while started; {@link #close(Duration)} must be
 * called (it finishes the current round, hands the partitions over and releases the connection).
 */
public final class OutboxRelay implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(OutboxRelay.class);
    private static final String GROUP = "relays";
    private static final String SCOPE = "outbox";
    private static final int RETENTION_BATCH = 1_000;

    private final DataSource dataSource;
    private final Transport target;
    private final JdbcDialect dialect;
    private final Settings s;
    private final String table;
    private final String relayId;
    private final PartitionLeases leases;
    private final boolean targetDelays;
    private final Signal signal = new Signal();
    private final ExecutorService sendExecutor;
    private final Thread thread;
    private final CountDownLatch finished = new CountDownLatch(1);
    private final AtomicLong published = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong abandoned = new AtomicLong();
    private final AtomicLong outages = new AtomicLong();
    private final AtomicLong rounds = new AtomicLong();
    private volatile boolean closing;
    private volatile boolean halted;

    // Relay thread only.
    private Connection conn;
    private long nextHeartbeat;
    private long leaseValidUntil;
    private long nextRetention;
    private long idleMillis;
    private int outageStreak;
    private int dbFailures;
    /**
     * Sends of past rounds the target had not answered when their round ended, by row id. Their rows are not sent
     * again, nor any later row of their keys, until the answer comes (or a lease has passed): resending at once
     * would deliver the row twice and let the old send finish after newer rows of its key.
     */
    private final Map<Long, Unanswered> unanswered = new HashMap<>();

    /** Counters since start. Immutable snapshot. */
    public record Stats(long published, long failed, long abandoned, long outages, long rounds) {
    }

    private record Settings(String prefix, int partitions, int batchSize, Duration pollMax, Duration lease,
                            Duration heartbeat, Duration sendTimeout, int maxAttempts, Duration backoff,
                            Duration maxBackoff, Duration retention, Duration retentionInterval) {
    }

    private enum Kind { SENT, FAILED, SKIPPED }

    private record Unanswered(String key, CompletableFuture<Result> answer, long since) {
    }

    /**
     * One round's sends. Its chained sends (the next row of a key, started when the previous one was acknowledged)
     * may start only while the round lasts: a send acknowledged after the round ended must not set off the rest of
     * its key's chain, since the next round is already sending those rows itself.
     */
    private static final class Round {
        /** No send may start after this (epoch ms): the send timeout, or the lease would be too close to expiring. */
        final long deadline;
        volatile boolean over;

        Round(long deadline) {
            this.deadline = deadline;
        }
    }

    private record Result(Kind kind, Throwable error) {
        static final Result SENT = new Result(Kind.SENT, null);
        static final Result SKIPPED = new Result(Kind.SKIPPED, null);
    }

    private static final class Row {
        long id;
        int keyHash;
        String status;
        String key;
        TransportMessage message;
        String undecodable;
        int attempts;
    }

    private OutboxRelay(DataSource dataSource, Transport target, JdbcDialect dialect, Settings s, String name) {
        this.dataSource = dataSource;
        this.target = target;
        this.dialect = dialect;
        this.s = s;
        this.table = s.prefix() + "outbox";
        this.relayId = name;
        this.targetDelays = target.capabilities().contains(Capability.DELAYED_DELIVERY);
        this.leases = new PartitionLeases(dialect, s.prefix() + "outbox_lease", s.prefix() + "outbox_relay", GROUP,
                SCOPE, relayId, s.partitions(), s.lease().toMillis());
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
        return new Stats(published.get(), failed.get(), abandoned.get(), outages.get(), rounds.get());
    }

    /** Asks the relay to look for new rows now instead of at its next poll (e.g. right after a commit). */
    public void wakeUp() {
        signal.signal();
    }

    private void checkPartitions(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM " + s.prefix() + "outbox_lease"
                + " WHERE group_name = ? AND stream = ?")) {
            ps.setString(1, GROUP);
            ps.setString(2, SCOPE);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                int n = rs.getInt(1);
                if (n != 0 && n != s.partitions()) {
                    throw new dev.eventbus.ConfigException(JdbcConfig.OUTBOX_PARTITIONS,
                            Integer.toString(s.partitions()), n + ", the partition count the relays of "
                            + table + " already use (relays with different counts would break per-key order)");
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

    /** One round: heartbeat when due, claim a batch, send it, record the outcome. Returns how long to sleep. */
    private long round() throws SQLException, InterruptedException {
        Connection c = connection();
        long now = System.currentTimeMillis();
        if (now >= nextHeartbeat) {
            // Nothing is in flight between rounds, so every partition may be handed over at once.
            leases.heartbeat(c, now, leases.owned());
            leaseValidUntil = now + s.lease().toMillis();
            nextHeartbeat = now + s.heartbeat().toMillis();
        }
        settleUnanswered(c, now);
        Set<Integer> owned = leases.owned();
        if (owned.contains(0) && now >= nextRetention) {
            nextRetention = now + s.retentionInterval().toMillis();
            purgePublished(c, now);
        }
        if (owned.isEmpty()) {
            return Math.max(1, nextHeartbeat - now);
        }
        long leaseDeadline = leaseValidUntil - s.lease().toMillis() / 10;
        if (now >= leaseDeadline) {
            nextHeartbeat = now; // renew (or learn we lost the partitions) before sending anything
            return 0;
        }
        Round round = new Round(Math.min(now + s.sendTimeout().toMillis(), leaseDeadline));
        List<Row> batch = claim(c, owned, now);
        if (batch.isEmpty()) {
            idleMillis = Math.min(s.pollMax().toMillis(), Math.max(5, idleMillis * 2));
            return Math.max(1, Math.min(idleMillis, nextHeartbeat - now));
        }
        rounds.incrementAndGet();
        idleMillis = 5;
        Map<Row, CompletableFuture<Result>> futures = send(batch, round);
        Map<Row, Result> results = await(futures, round.deadline);
        round.over = true;
        if (halted) {
            return 0;
        }
        keepUnanswered(futures, results, now);
        return finish(c, batch, results);
    }

    // ------------------------------------------------------------------------------------------------ claiming

    private static final String COLUMNS = "id, key_hash, status, stream, msg_key, event_id, event_type, headers,"
            + " body, deliver_at, priority, attempts, next_attempt_at";

    private List<Row> claim(Connection c, Set<Integer> owned, long now) throws SQLException {
        return relayTransaction(c, x -> {
            String filter = owned.size() == s.partitions() ? ""
                    : " AND " + Jdbc.inList(dialect, "MOD(key_hash, " + s.partitions() + ")", owned.size());
            TreeMap<Long, Object[]> candidates = new TreeMap<>();
            // One status per query: each is a short range of an index, never a walk past the pending backlog.
            int pendingRows = query(x, "SELECT " + COLUMNS + " FROM " + table + " WHERE status = 'pending'" + filter
                    + " ORDER BY id LIMIT " + s.batchSize(), owned, List.of(), candidates);
            query(x, "SELECT " + COLUMNS + " FROM " + table + " WHERE status = 'failed'" + filter
                    + " ORDER BY id LIMIT " + s.batchSize(), owned, List.of(), candidates);

            Set<String> blocked = new LinkedHashSet<>();
            for (Unanswered u : unanswered.values()) {
                if (u.key() != null) {
                    blocked.add(u.key()); // nothing of a key goes out while an older send of it is unanswered
                }
            }
            List<Row> sendable = pick(candidates, now, blocked);
            if (sendable.isEmpty() && pendingRows >= s.batchSize() && !blocked.isEmpty()) {
                // A key waiting for a retry filled the whole page: look past it, so other keys keep flowing.
                List<String> skip = new ArrayList<>(blocked);
                if (skip.size() > 100) {
                    skip = skip.subList(0, 100);
                }
                candidates.clear();
                query(x, "SELECT " + COLUMNS + " FROM " + table + " WHERE status = 'pending'" + filter
                        + " AND (msg_key IS NULL OR msg_key NOT IN " + Jdbc.placeholders(skip.size()) + ")"
                        + " ORDER BY id LIMIT " + s.batchSize(), owned, skip, candidates);
                sendable = pick(candidates, now, blocked);
            }
            if (sendable.isEmpty()) {
                return sendable;
            }
            // Record what is in flight on the leases we hold (for operators: the outbox_status view).
            Map<Integer, Long> highest = new TreeMap<>();
            for (Row r : sendable) {
                highest.merge(r.keyHash % s.partitions(), r.id, Math::max);
            }
            try (PreparedStatement ps = x.prepareStatement("UPDATE " + s.prefix() + "outbox_lease SET position = ?"
                    + " WHERE group_name = ? AND stream = ? AND partition_no = ? AND owner = ?")) {
                for (Map.Entry<Integer, Long> e : highest.entrySet()) {
                    ps.setLong(1, e.getValue());
                    ps.setString(2, GROUP);
                    ps.setString(3, SCOPE);
                    ps.setInt(4, e.getKey());
                    ps.setString(5, relayId);
                    ps.addBatch();
                }
                ps.executeBatch();
            }
            return sendable;
        });
    }

    /**
     * The relay's own transactions. On PostgreSQL they commit without waiting for the WAL flush: what a database
     * crash could forget is only that rows were published (they are sent again), never a row itself, which the
     * application committed synchronously.
     */
    private <T> T relayTransaction(Connection c, Jdbc.Work<T> work) throws SQLException {
        return Jdbc.inTransaction(c, x -> {
            Jdbc.commitAsynchronously(x, dialect);
            return work.run(x);
        });
    }

    private int query(Connection c, String sql, Set<Integer> owned, List<String> skipKeys,
                      TreeMap<Long, Object[]> into) throws SQLException {
        int n = 0;
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            int i = 1;
            if (owned.size() != s.partitions()) {
                i = Jdbc.bindInts(dialect, c, ps, i, owned);
            }
            for (String k : skipKeys) {
                ps.setString(i++, k);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    n++;
                    Row r = new Row();
                    // Columns by position, in COLUMNS order.
                    r.id = rs.getLong(1);
                    r.keyHash = rs.getInt(2);
                    r.status = rs.getString(3);
                    r.key = rs.getString(5);
                    r.attempts = rs.getInt(12);
                    try {
                        r.message = Rows.read(rs, 4);
                    } catch (IllegalArgumentException bad) {
                        r.undecodable = "the outbox row cannot be read: " + bad.getMessage();
                    }
                    into.put(r.id, new Object[] {r, rs.getLong(13)});
                }
            }
        }
        return n;
    }

    /** Rows to send now, in id order, skipping every row whose key has an older unfinished row that is not due. */
    private List<Row> pick(TreeMap<Long, Object[]> candidates, long now, Set<String> blocked) {
        List<Row> out = new ArrayList<>();
        for (Object[] c : candidates.values()) {
            if (out.size() >= s.batchSize()) {
                break;
            }
            Row r = (Row) c[0];
            if (r.key != null && blocked.contains(r.key)) {
                continue;
            }
            if (unanswered.containsKey(r.id)) {
                continue; // its send of an earlier round may still be acknowledged
            }
            boolean due = !"failed".equals(r.status) || (long) c[1] <= now;
            if (due && r.message != null && !targetDelays && r.message.deliverAt() != null
                    && r.message.deliverAt().toEpochMilli() > now) {
                due = false; // the target cannot delay: hold it here until its time
            }
            if (!due) {
                if (r.key != null) {
                    blocked.add(r.key);
                }
                continue;
            }
            out.add(r);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------------- sending

    /**
     * Sends every row; rows of one key are chained (the next is sent only once the target acknowledged the
     * previous one, and skipped if it failed), other keys go concurrently.
     */
    private Map<Row, CompletableFuture<Result>> send(List<Row> batch, Round round) {
        Map<Row, CompletableFuture<Result>> out = new HashMap<>(batch.size() * 2);
        Map<String, CompletableFuture<Result>> tails = new HashMap<>();
        for (Row r : batch) {
            CompletableFuture<Result> f;
            CompletableFuture<Result> prev = r.key == null ? null : tails.get(r.key);
            if (prev == null) {
                f = attempt(r, round);
            } else if (prev.isDone()) {
                f = prev.join().kind() == Kind.SENT ? attempt(r, round)
                        : CompletableFuture.completedFuture(Result.SKIPPED);
            } else {
                // Not on the target's callback thread: sending from there can deadlock some clients.
                f = prev.thenComposeAsync(p -> p.kind() == Kind.SENT ? attempt(r, round)
                        : CompletableFuture.completedFuture(Result.SKIPPED), sendExecutor);
            }
            if (r.key != null) {
                tails.put(r.key, f);
            }
            out.put(r, f);
        }
        return out;
    }

    private CompletableFuture<Result> attempt(Row r, Round round) {
        if (halted) {
            return new CompletableFuture<>(); // a crashed relay sends nothing more
        }
        if (round.over || System.currentTimeMillis() >= round.deadline) {
            // Too late: our lease may be gone, or a later round owns the key now. Leave it pending.
            return CompletableFuture.completedFuture(Result.SKIPPED);
        }
        if (r.undecodable != null) {
            return CompletableFuture.completedFuture(new Result(Kind.FAILED, new IllegalArgumentException(r.undecodable)));
        }
        TransportMessage m = r.message;
        if (!targetDelays && m.deliverAt() != null) {
            m = m.withDeliverAt(null);
        }
        try {
            return target.send(m).handle((v, e) -> e == null ? Result.SENT : new Result(Kind.FAILED, unwrap(e)));
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(new Result(Kind.FAILED, e));
        }
    }

    private static Throwable unwrap(Throwable e) {
        while ((e instanceof java.util.concurrent.CompletionException
                || e instanceof java.util.concurrent.ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    private Map<Row, Result> await(Map<Row, CompletableFuture<Result>> futures, long deadline)
            throws InterruptedException {
        CompletableFuture<Void> all = CompletableFuture.allOf(futures.values().toArray(new CompletableFuture<?>[0]));
        while (!all.isDone() && !halted) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                break;
            }
            try {
                all.get(Math.min(left, 50), TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException ignored) {
                // loop: check the deadline and whether we were halted
            }
        }
        Map<Row, Result> out = new HashMap<>(futures.size() * 2);
        futures.forEach((row, f) -> {
            if (f.isDone() && !f.isCompletedExceptionally()) {
                out.put(row, f.join());
            }
        });
        return out;
    }

    // ---------------------------------------------------------------------------------------------- recording

    private long finish(Connection c, List<Row> batch, Map<Row, Result> results) throws SQLException {
        List<Long> sent = new ArrayList<>();
        List<Row> failedRows = new ArrayList<>();
        boolean allRetriable = true;
        Throwable firstError = null;
        for (Row r : batch) {
            Result res = results.get(r);
            if (res == null) {
                continue; // no answer before the deadline: still pending, sent again next round
            }
            switch (res.kind()) {
                case SENT:
                    sent.add(r.id);
                    break;
                case SKIPPED:
                    break;
                case FAILED:
                default:
                    failedRows.add(r);
                    allRetriable &= r.undecodable == null && retriable(res.error());
                    if (firstError == null) {
                        firstError = res.error();
                    }
                    break;
            }
        }
        boolean outage = sent.isEmpty() && !failedRows.isEmpty() && allRetriable;
        long now = System.currentTimeMillis();
        Throwable cause = firstError;
        if (outage) {
            // Nothing to write for the rows: they stay as they were.
            log.debug("outbox relay {}: outage, {} row(s) left as they were", relayId, failedRows.size());
        }
        relayTransaction(c, x -> {
            markPublished(x, sent, now);
            // Skipped rows (an older row of their key failed) and, during an outage, failed ones keep their state.
            if (!outage && !failedRows.isEmpty()) {
                try (PreparedStatement ps = x.prepareStatement("UPDATE " + table + " SET status = ?, attempts = ?,"
                        + " next_attempt_at = ?, last_error = ? WHERE id = ? AND status IN ('pending', 'failed')")) {
                    for (Row r : failedRows) {
                        Throwable e = results.get(r).error();
                        int attempts = r.attempts + 1;
                        boolean giveUp = attempts >= s.maxAttempts() || r.undecodable != null;
                        ps.setString(1, giveUp ? "abandoned" : "failed");
                        ps.setInt(2, attempts);
                        ps.setLong(3, now + backoff(attempts));
                        ps.setString(4, Jdbc.clip(describe(e), 2000));
                        ps.setLong(5, r.id);
                        ps.addBatch();
                        if (giveUp) {
                            log.warn("outbox relay {}: row {} ({} on {}) abandoned after {} attempt(s): {}", relayId,
                                    r.id, r.message == null ? "?" : r.message.type(),
                                    r.message == null ? "?" : r.message.stream(), attempts, describe(e));
                        }
                    }
                    ps.executeBatch();
                }
            }
            try (PreparedStatement ps = x.prepareStatement("UPDATE " + s.prefix() + "outbox_lease SET position = 0"
                    + " WHERE group_name = ? AND stream = ? AND owner = ? AND position <> 0")) {
                ps.setString(1, GROUP);
                ps.setString(2, SCOPE);
                ps.setString(3, relayId);
                ps.executeUpdate();
            }
            return null;
        });
        published.addAndGet(sent.size());
        if (outage) {
            outages.incrementAndGet();
            outageStreak++;
            long wait = Math.min(s.maxBackoff().toMillis(), s.backoff().toMillis() << Math.min(outageStreak - 1, 20));
            if (outageStreak == 1 || outageStreak % 10 == 0) {
                log.warn("outbox relay {}: the target refused a whole batch ({}); backing off {} ms", relayId,
                        describe(cause), wait);
            }
            return wait;
        }
        outageStreak = 0;
        for (Row r : failedRows) {
            if (r.attempts + 1 >= s.maxAttempts() || r.undecodable != null) {
                abandoned.incrementAndGet();
            } else {
                failed.incrementAndGet();
            }
        }
        return 0;
    }

    private void markPublished(Connection x, List<Long> sent, long now) throws SQLException {
        if (sent.isEmpty()) {
            return;
        }
        String sql = s.retention().isZero()
                ? "DELETE FROM " + table + " WHERE " + Jdbc.inList(dialect, "id", sent.size())
                : "UPDATE " + table + " SET status = 'published', published_at = ? WHERE "
                        + Jdbc.inList(dialect, "id", sent.size()) + " AND status IN ('pending', 'failed')";
        try (PreparedStatement ps = x.prepareStatement(sql)) {
            int i = 1;
            if (!s.retention().isZero()) {
                ps.setLong(i++, now);
            }
            Jdbc.bindLongs(dialect, x, ps, i, sent);
            ps.executeUpdate();
        }
    }

    /** Remembers the sends the target had not answered when the round ended (see {@link #unanswered}). */
    private void keepUnanswered(Map<Row, CompletableFuture<Result>> futures, Map<Row, Result> results, long now) {
        futures.forEach((row, f) -> {
            if (!results.containsKey(row)) {
                unanswered.put(row.id, new Unanswered(row.key, f, now));
                f.whenComplete((v, e) -> signal.signal()); // its key may go on
            }
        });
    }

    /**
     * Records the late answers: a row acknowledged after its round is published now; a refused or skipped one is
     * sent again like any unfinished row. A send unanswered for a whole lease is given up on (sent again: at least
     * once), so a target that never answers cannot hold a key forever.
     */
    private void settleUnanswered(Connection c, long now) throws SQLException {
        if (unanswered.isEmpty()) {
            return;
        }
        List<Long> late = new ArrayList<>();
        for (var it = unanswered.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, Unanswered> e = it.next();
            CompletableFuture<Result> f = e.getValue().answer();
            if (f.isDone()) {
                if (!f.isCompletedExceptionally() && f.join().kind() == Kind.SENT) {
                    late.add(e.getKey());
                }
                it.remove();
            } else if (now - e.getValue().since() > s.lease().toMillis()) {
                log.warn("outbox relay {}: row {} got no answer from the target for {} ms; it will be sent again",
                        relayId, e.getKey(), now - e.getValue().since());
                it.remove();
            }
        }
        if (!late.isEmpty()) {
            relayTransaction(c, x -> {
                markPublished(x, late, now);
                return null;
            });
            published.addAndGet(late.size());
        }
    }

    private long backoff(int attempts) {
        long base = s.backoff().toMillis();
        long b = attempts >= 30 ? Long.MAX_VALUE : base << Math.max(0, attempts - 1);
        return Math.min(s.maxBackoff().toMillis(), b < 0 ? Long.MAX_VALUE : b);
    }

    private static boolean retriable(Throwable e) {
        for (Throwable x = e; x != null; x = x.getCause()) {
            if (x instanceof EventBusException ebe) {
                return ebe.isRetriable();
            }
            if (x instanceof java.util.concurrent.TimeoutException || x instanceof java.io.IOException) {
                return true;
            }
        }
        return Jdbc.isTransient(e);
    }

    private static String describe(Throwable e) {
        return e == null ? "unknown" : e.getClass().getName() + ": " + e.getMessage();
    }

    // ----------------------------------------------------------------------------------------------- retention

    private void purgePublished(Connection c, long now) throws SQLException {
        if (s.retention().isZero()) {
            return;
        }
        long cutoff = now - s.retention().toMillis();
        String sql;
        switch (dialect) {
            case POSTGRESQL:
                sql = "DELETE FROM " + table + " WHERE id IN (SELECT id FROM " + table + " WHERE status = 'published'"
                        + " AND published_at < ? ORDER BY id LIMIT " + RETENTION_BATCH + " FOR UPDATE SKIP LOCKED)";
                break;
            case MARIADB:
                sql = "DELETE FROM " + table + " WHERE status = 'published' AND published_at < ? ORDER BY id LIMIT "
                        + RETENTION_BATCH;
                break;
            default:
                sql = "DELETE FROM " + table + " WHERE status = 'published' AND published_at < ? LIMIT "
                        + RETENTION_BATCH;
                break;
        }
        long total = 0;
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            for (int round = 0; round < 100 && !closing; round++) {
                ps.setLong(1, cutoff);
                int n = ps.executeUpdate();
                total += n;
                if (n < RETENTION_BATCH) {
                    break;
                }
            }
        }
        if (total > 0) {
            log.debug("outbox relay {}: retention deleted {} published rows", relayId, total);
        }
    }

    /**
     * Deletes published rows older than the retention now (the relay holding partition 0 also does it every
     * {@link JdbcConfig#OUTBOX_RETENTION} interval). Blocks.
     *
     * @return rows deleted
     */
    public long purgeNow() {
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            long before = countPublished(c);
            purgePublished(c, System.currentTimeMillis());
            return before - countPublished(c);
        } catch (SQLException e) {
            throw new EventBusException("outbox retention failed: " + e.getMessage(), e, Jdbc.isTransient(e));
        }
    }

    private long countPublished(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM " + table
                + " WHERE status = 'published'");
             ResultSet rs = ps.executeQuery()) {
            rs.next();
            return rs.getLong(1);
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
            try (PreparedStatement ps = c.prepareStatement("UPDATE " + table + " SET status = 'pending', attempts = 0,"
                    + " next_attempt_at = NULL WHERE status = 'abandoned'")) {
                int n = ps.executeUpdate();
                signal.signal();
                return n;
            }
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
        return "OutboxRelay{" + relayId + ", " + table + " -> " + target.name() + '}';
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
            this.pollInterval = positive(max, "pollInterval");
            return this;
        }

        /** Lease on partitions and in-flight rows, and how often it is renewed. Default 30 s and 1 s. */
        public Builder lease(Duration lease, Duration heartbeat) {
            this.lease = positive(lease, "lease");
            this.heartbeat = positive(heartbeat, "heartbeat");
            return this;
        }

        /** How long to wait for the target's acknowledgements of one round. Default 10 s; at most half the lease. */
        public Builder sendTimeout(Duration timeout) {
            this.sendTimeout = positive(timeout, "sendTimeout");
            return this;
        }

        /** Failed sends of one row before it is abandoned, and the backoff between them. Default 10, 1 s to 5 min. */
        public Builder retries(int maxAttempts, Duration backoff, Duration maxBackoff) {
            if (maxAttempts < 1) {
                throw new IllegalArgumentException("maxAttempts must be >= 1, was " + maxAttempts);
            }
            this.maxAttempts = maxAttempts;
            this.backoff = positive(backoff, "backoff");
            this.maxBackoff = positive(maxBackoff, "maxBackoff");
            return this;
        }

        /** How long published rows are kept (zero: deleted when published) and how often they are purged. */
        public Builder retention(Duration retention, Duration every) {
            Objects.requireNonNull(retention, "retention");
            if (retention.isNegative()) {
                throw new IllegalArgumentException("retention must not be negative, was " + retention);
            }
            this.retention = retention;
            this.retentionInterval = positive(every, "every");
            return this;
        }

        private static Duration positive(Duration d, String name) {
            Objects.requireNonNull(d, name);
            if (d.isZero() || d.isNegative()) {
                throw new IllegalArgumentException(name + " must be positive, was " + d);
            }
            return d;
        }

        /**
         * Checks (or creates) the outbox tables and starts the relay.
         *
         * @throws EventBusException when the database cannot be reached or a table is missing (with the DDL)
         * @throws dev.eventbus.ConfigException when the partition count differs from the other relays'
         */
        public OutboxRelay build() {
            if (heartbeat.compareTo(lease) >= 0) {
                throw new IllegalArgumentException("heartbeat (" + heartbeat + ") must be shorter than the lease ("
                        + lease + ")");
            }
            if (sendTimeout.compareTo(lease.dividedBy(2)) > 0) {
                throw new IllegalArgumentException("sendTimeout (" + sendTimeout + ") must be at most half the lease ("
                        + lease + ")");
            }
            JdbcDialect d = dialect != null ? dialect : JdbcDialect.detect(dataSource);
            Schema.ensure(dataSource, d, prefix, "outbox", schemaMode,
                    List.of(prefix + "outbox", prefix + "outbox_lease", prefix + "outbox_relay",
                            prefix + "outbox_status"));
            String id = name != null ? name : defaultName();
            Settings s = new Settings(prefix, partitions, batchSize, pollInterval, lease, heartbeat, sendTimeout,
                    maxAttempts, backoff, maxBackoff, retention, retentionInterval);
            return new OutboxRelay(dataSource, target, d, s, id);
        }

        private static String defaultName() {
            String host = System.getenv("HOSTNAME");
            String id = (host == null || host.isBlank() ? "" : host + "/") + ProcessHandle.current().pid() + "/"
                    + UUID.randomUUID().toString().substring(0, 8);
            return id.length() > 100 ? id.substring(id.length() - 100) : id;
        }
    }
}
