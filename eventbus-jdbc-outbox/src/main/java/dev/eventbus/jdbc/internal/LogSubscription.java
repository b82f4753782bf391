package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One group's subscription to one stream on this instance: a poller thread that holds a fair share of the
 * stream's partitions (through {@link PartitionLeases}), reads the log past each partition's cursor, hands
 * messages to worker lanes (per-key order), and commits each partition's cursor up to the longest prefix whose
 * outcomes are settled. Retries, delayed sends and replayed dead letters wait in the retry table; dead letters go
 * to the dead-letter table, in the same transaction as the cursor move that passes them.
 *
 * <p>Nothing behind a cursor can appear later: sequences are gapless and commit-ordered per stream (see
 * {@link LogAppender}), and the poller reads the committed head first and then only rows up to it.
 */
public final class LogSubscription implements TransportSubscription {

    private static final Logger log = LoggerFactory.getLogger(LogSubscription.class);
    /** Redelivery delay when a handler threw instead of returning an outcome. */
    private static final long CRASH_DELAY_MS = 100;

    private final LogStore store;
    private final SubscriptionRequest request;
    private final MessageHandler handler;
    private final PartitionLeases leases;
    private final Lanes lanes;
    private final Signal signal = new Signal();
    private final Thread poller;
    private final AtomicInteger active = new AtomicInteger();
    private final CountDownLatch finished = new CountDownLatch(1);
    private final ConcurrentLinkedQueue<RetryEntry> retriesDone = new ConcurrentLinkedQueue<>();
    private final Runnable onClosed;
    private volatile Set<String> types;
    private volatile boolean closing;
    private volatile long closeDeadline;

    // Poller thread only.
    private final Map<Integer, Part> parts = new TreeMap<>();
    private final Map<Long, RetryEntry> retries = new HashMap<>();
    private final List<Write> retryWrites = new ArrayList<>();
    private Connection conn;
    private long nextHeartbeat;
    private long nextRetryCheck;
    private long lastCommit;
    private long idleMillis;
    private int failures;

    /** A partition this member holds. */
    private static final class Part {
        final int partition;
        final int epoch;
        long committed;
        long fetched;
        boolean revoking;
        final ArrayDeque<Entry> inflight = new ArrayDeque<>();
        final List<Write> writes = new ArrayList<>();

        Part(int partition, long position, int epoch) {
            this.partition = partition;
            this.committed = position;
            this.fetched = position;
            this.epoch = epoch;
        }

        long target() {
            return inflight.isEmpty() ? fetched : inflight.peekFirst().seq - 1;
        }

        boolean idle() {
            return inflight.isEmpty() && writes.isEmpty() && committed >= fetched;
        }
    }

    /** A log row being handled. */
    private static final class Entry {
        final long seq;
        final TransportMessage message;
        final String origin;
        volatile Outcome outcome;
        volatile boolean crashed;
        volatile boolean done;
        volatile boolean ignored;
        long deferUntil;
        String undecodable;

        Entry(long seq, TransportMessage message, String origin) {
            this.seq = seq;
            this.message = message;
            this.origin = origin;
        }
    }

    /** A retry-table row being handled. */
    private static final class RetryEntry {
        final long id;
        final int partition;
        final TransportMessage message;
        final int attempt;
        final String origin;
        volatile Outcome outcome;
        volatile boolean crashed;
        volatile boolean ignored;

        RetryEntry(long id, int partition, TransportMessage message, int attempt, String origin) {
            this.id = id;
            this.partition = partition;
            this.message = message;
            this.attempt = attempt;
            this.origin = origin;
        }
    }

    /** A row to write when the cursor passes a message (or when a retry settles). */
    private record Write(Kind kind, long retryId, int partition, TransportMessage message, int attempt,
                         long visibleAt, String reason) {
        enum Kind { INSERT_RETRY, UPDATE_RETRY, DELETE_RETRY, INSERT_DEAD }
    }

    public LogSubscription(LogStore store, SubscriptionRequest request, MessageHandler handler, String memberId,
                           Runnable onClosed) {
        this.store = store;
        this.request = request;
        this.handler = handler;
        this.types = request.types();
        this.onClosed = onClosed;
        TransportSettings s = store.settings;
        String label = request.group() + "-" + request.stream();
        try {
            conn = store.dataSource.getConnection();
            int partitions = store.partitionsOf(conn, request.stream());
            this.leases = new PartitionLeases(store.dialect, s.cursor(), s.member(), request.group(),
                    request.stream(), memberId, partitions, s.lease().toMillis());
            long now = System.currentTimeMillis();
            long initial = s.startAtEarliest() ? 0 : store.head(conn, request.stream());
            leases.ensureRows(conn, initial, now);
            apply(leases.heartbeat(conn, now, Set.of()), now);
            nextHeartbeat = now + s.heartbeat().toMillis();
        } catch (SQLException e) {
            Jdbc.closeQuietly(conn);
            throw new dev.eventbus.EventBusException("cannot subscribe group '" + request.group() + "' to stream '"
                    + request.stream() + "': " + e.getMessage(), e, Jdbc.isTransient(e));
        }
        this.lanes = new Lanes("eventbus-jdbc-" + label, request.concurrency(), request.orderedByKey());
        Wakeups.register(store.database, request.stream(), signal);
        this.poller = new Thread(this::run, "eventbus-jdbc-poll-" + label);
        this.poller.setDaemon(true);
        this.poller.start();
    }

    /** This member's id in the cursor and member tables. */
    public String memberId() {
        return leases.memberId();
    }

    @Override
    public void updateTypes(Set<String> newTypes) {
        Set<String> merged = new HashSet<>(types);
        merged.addAll(newTypes);
        types = Set.copyOf(merged);
    }

    /**
     * Waits until the group's partitions are spread evenly over its live members (every instance holds its
     * share). For tests and for applications that want every instance working before they publish.
     *
     * @return whether it got there within {@code timeout}
     */
    public boolean awaitBalanced(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline) {
            try (Connection c = store.dataSource.getConnection()) {
                if (leases.balanced(c, System.currentTimeMillis())) {
                    return true;
                }
            } catch (SQLException e) {
                log.debug("balance check failed", e);
            }
            try {
                Thread.sleep(25);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
        return false;
    }

    // ------------------------------------------------------------------------------------------- poller loop

    private void run() {
        TransportSettings s = store.settings;
        idleMillis = s.pollMin().toMillis();
        try {
            while (!closing) {
                long wait;
                try {
                    wait = cycle();
                    failures = 0;
                } catch (VirtualMachineError fatal) {
                    throw fatal;
                } catch (Throwable e) {
                    // Not only SQLException: a driver may throw an Error when its connection dies mid-statement.
                    failures++;
                    wait = Math.min(5_000, 100L << Math.min(failures, 6));
                    if (failures == 1 || failures % 20 == 0) {
                        log.warn("group '{}' on stream '{}': database error ({} in a row), retrying in {} ms: {}",
                                request.group(), request.stream(), failures, wait, e.toString());
                    }
                    Jdbc.closeQuietly(conn);
                    conn = null;
                }
                if (wait > 0 && !closing) {
                    signal.await(wait);
                }
            }
            shutdown();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Throwable t) {
            log.error("group '{}' on stream '{}': poller died", request.group(), request.stream(), t);
        } finally {
            lanes.stop();
            Wakeups.unregister(store.database, request.stream(), signal);
            Jdbc.closeQuietly(conn);
            finished.countDown();
            onClosed.run();
        }
    }

    /** One round; returns how long to sleep (0 to go again at once). */
    private long cycle() throws SQLException {
        TransportSettings s = store.settings;
        Connection c = connection();
        long now = System.currentTimeMillis();
        if (now >= nextHeartbeat) {
            apply(leases.heartbeat(c, now, releasable()), now);
            nextHeartbeat = now + s.heartbeat().toMillis();
        }
        settle(now);
        flush(c, now, false);
        releaseRevoked(c, now);

        int got = 0;
        if (inflight() < s.fetchSize()) {
            got += fetchLog(c, now);
            got += fetchRetries(c, now);
        }
        if (got > 0) {
            idleMillis = s.pollMin().toMillis();
            return 0;
        }
        idleMillis = Math.min(s.pollMax().toMillis(), Math.max(1, idleMillis * 2));
        long wait = Math.min(idleMillis, nextHeartbeat - now);
        wait = Math.min(wait, nextRetryCheck - now);
        if (hasDirty()) {
            wait = Math.min(wait, lastCommit + s.commitInterval().toMillis() - now);
        }
        return Math.max(1, wait);
    }

    private Connection connection() throws SQLException {
        if (conn == null) {
            conn = store.dataSource.getConnection();
            if (!conn.getAutoCommit()) {
                conn.setAutoCommit(true);
            }
        }
        return conn;
    }

    private int inflight() {
        int n = retries.size();
        for (Part p : parts.values()) {
            n += p.inflight.size();
        }
        return n;
    }

    private boolean hasDirty() {
        if (!retryWrites.isEmpty()) {
            return true;
        }
        for (Part p : parts.values()) {
            if (p.target() > p.committed || !p.writes.isEmpty()) {
                return true;
            }
        }
        return false;
    }

    private Set<Integer> releasable() {
        Set<Integer> out = new HashSet<>();
        for (Part p : parts.values()) {
            if (p.idle() && !hasRetriesFor(p.partition)) {
                out.add(p.partition);
            }
        }
        return out;
    }

    private boolean hasRetriesFor(int partition) {
        for (RetryEntry r : retries.values()) {
            if (r.partition == partition) {
                return true;
            }
        }
        return false;
    }

    private void apply(PartitionLeases.Change change, long now) {
        for (int p : change.released()) {
            parts.remove(p);
        }
        for (int p : change.lost()) {
            drop(p);
            log.info("group '{}' on stream '{}': partition {} was taken over by another instance",
                    request.group(), request.stream(), p);
        }
        for (PartitionLeases.Lease l : change.moved()) {
            // An operator moved the cursor (replay): forget what is in flight and start over from there. The
            // lease stays ours under its new epoch: forgetting it too made the next heartbeat take the partition
            // again as if new, from the cursor in the table, and deliver the replayed messages a second time.
            discard(l.partition());
            parts.put(l.partition(), new Part(l.partition(), l.position(), l.epoch()));
            nextRetryCheck = now;
        }
        for (PartitionLeases.Lease l : change.acquired()) {
            discard(l.partition()); // nothing of an older hold may be committed under the new one
            parts.put(l.partition(), new Part(l.partition(), l.position(), l.epoch()));
            nextRetryCheck = now;
        }
        for (int p : change.revoke()) {
            Part part = parts.get(p);
            if (part != null) {
                part.revoking = true;
            }
        }
        if (!change.revoke().isEmpty()) {
            // Come back soon to hand them over once drained.
            nextHeartbeat = Math.min(nextHeartbeat, now + 50);
        }
    }

    /** Forgets a partition we no longer hold: what is in flight for it, and its lease. */
    private void drop(int partition) {
        discard(partition);
        leases.forget(partition);
    }

    /** Forgets what is in flight for a partition: those messages are redelivered by whoever reads it next. */
    private void discard(int partition) {
        Part part = parts.remove(partition);
        if (part != null) {
            for (Entry e : part.inflight) {
                e.ignored = true;
            }
        }
        for (Iterator<RetryEntry> it = retries.values().iterator(); it.hasNext(); ) {
            RetryEntry r = it.next();
            if (r.partition == partition) {
                r.ignored = true;
                it.remove();
            }
        }
    }

    private void releaseRevoked(Connection c, long now) throws SQLException {
        Set<Integer> done = new HashSet<>();
        for (Part p : parts.values()) {
            if (p.revoking && p.idle() && !hasRetriesFor(p.partition)) {
                done.add(p.partition);
            }
        }
        if (!done.isEmpty()) {
            leases.releaseNow(c, done, now);
            done.forEach(parts::remove);
        }
    }

    // ------------------------------------------------------------------------------------------------ fetching

    private int fetchLog(Connection c, long now) throws SQLException {
        List<Integer> activeParts = new ArrayList<>();
        long from = Long.MAX_VALUE;
        for (Part p : parts.values()) {
            if (!p.revoking) {
                activeParts.add(p.partition);
                from = Math.min(from, p.fetched);
            }
        }
        if (activeParts.isEmpty()) {
            return 0;
        }
        long head = store.head(c, request.stream());
        if (head <= from) {
            return 0;
        }
        boolean all = activeParts.size() == leases.partitions();
        int limit = store.settings.fetchSize();
        String sql = "SELECT seq, partition_no, stream, msg_key, event_id, event_type, headers, body, deliver_at,"
                + " priority FROM " + store.settings.log() + " WHERE stream = ? AND seq > ? AND seq <= ?"
                + (all ? "" : " AND " + Jdbc.inList(store.dialect, "partition_no", activeParts.size()))
                + " ORDER BY seq LIMIT " + limit;
        int rows = 0;
        int fresh = 0;
        long last = from;
        Set<String> wanted = types;
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, request.stream());
            ps.setLong(2, from);
            ps.setLong(3, head);
            if (!all) {
                Jdbc.bindInts(store.dialect, c, ps, 4, activeParts);
            }
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows++;
                    long seq = rs.getLong(1);
                    last = seq;
                    Part part = parts.get(rs.getInt(2));
                    if (part == null || part.revoking || seq <= part.fetched) {
                        continue;
                    }
                    part.fetched = seq;
                    fresh++;
                    String origin = request.stream() + "-" + part.partition + "@" + seq;
                    Entry e;
                    try {
                        e = new Entry(seq, Rows.read(rs, 3), origin);
                    } catch (IllegalArgumentException bad) {
                        e = new Entry(seq, raw(rs), origin);
                        e.undecodable = "the log row cannot be read: " + bad.getMessage();
                    }
                    part.inflight.addLast(e);
                    TransportMessage m = e.message;
                    if (e.undecodable != null) {
                        e.done = true;
                    } else if (!wanted.isEmpty() && m.type() != null && !wanted.contains(m.type())) {
                        e.outcome = Outcome.ack(); // no subscriber here wants it
                        e.done = true;
                    } else if (m.deliverAt() != null && m.deliverAt().toEpochMilli() > now) {
                        e.deferUntil = m.deliverAt().toEpochMilli();
                        e.done = true;
                    } else {
                        dispatch(e);
                    }
                }
            }
        }
        long horizon = rows < limit ? head : last;
        for (Part p : parts.values()) {
            if (!p.revoking && p.fetched < horizon) {
                p.fetched = horizon;
            }
        }
        return fresh;
    }

    private TransportMessage raw(ResultSet rs) throws SQLException {
        byte[] body = rs.getBytes("body");
        Map<String, String> h = new LinkedHashMap<>();
        String id = rs.getString("event_id");
        if (id != null) {
            h.put(MessageHeaders.ID, id);
        }
        String type = rs.getString("event_type");
        if (type != null) {
            h.put(MessageHeaders.TYPE, type);
        }
        return TransportMessage.of(request.stream(), rs.getString("msg_key"), h, body == null ? new byte[0] : body);
    }

    private int fetchRetries(Connection c, long now) throws SQLException {
        if (now < nextRetryCheck) {
            return 0;
        }
        List<Integer> activeParts = new ArrayList<>();
        for (Part p : parts.values()) {
            if (!p.revoking) {
                activeParts.add(p.partition);
            }
        }
        nextRetryCheck = now + store.settings.pollMax().toMillis();
        if (activeParts.isEmpty()) {
            return 0;
        }
        int limit = store.settings.fetchSize();
        String sql = "SELECT id, partition_no, msg_key, headers, body, priority, attempt FROM "
                + store.settings.retry() + " WHERE group_name = ? AND stream = ? AND visible_at <= ? AND "
                + Jdbc.inList(store.dialect, "partition_no", activeParts.size())
                + " ORDER BY visible_at, id LIMIT " + limit;
        List<RetryEntry> found = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, request.group());
            ps.setString(2, request.stream());
            ps.setLong(3, now);
            Jdbc.bindInts(store.dialect, c, ps, 4, activeParts);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    long id = rs.getLong(1);
                    if (retries.containsKey(id)) {
                        continue;
                    }
                    int partition = rs.getInt(2);
                    String origin = request.stream() + "-" + partition + "@retry-" + id;
                    TransportMessage m;
                    try {
                        m = Rows.message(request.stream(), rs.getString(3), null, null, rs.getString(4),
                                rs.getBytes(5), null, rs.getInt(6));
                    } catch (IllegalArgumentException bad) {
                        m = TransportMessage.of(request.stream(), rs.getString(3), Map.of(), rs.getBytes(5));
                    }
                    found.add(new RetryEntry(id, partition, m, rs.getInt(7), origin));
                }
            }
        }
        if (found.size() >= limit) {
            nextRetryCheck = now;
        }
        if (found.isEmpty()) {
            return 0;
        }
        // Claim them for one lease, so that if this instance dies they come back (visibility timeout).
        long claimUntil = now + store.settings.lease().toMillis();
        List<RetryEntry> claimed = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + store.settings.retry()
                + " SET visible_at = ? WHERE id = ? AND visible_at <= ?")) {
            for (RetryEntry r : found) {
                ps.setLong(1, claimUntil);
                ps.setLong(2, r.id);
                ps.setLong(3, now);
                if (ps.executeUpdate() == 1) {
                    claimed.add(r);
                }
            }
        }
        for (RetryEntry r : claimed) {
            retries.put(r.id, r);
            dispatchRetry(r);
        }
        return claimed.size();
    }

    // --------------------------------------------------------------------------------------------- handling

    private void dispatch(Entry e) {
        lanes.submit(e.message.key(), () -> {
            active.incrementAndGet();
            try {
                if (closing || e.ignored) {
                    return; // never started: stays unacknowledged and is redelivered
                }
                try {
                    Outcome o = handler.handle(new Delivery(e.message, 1, e.origin));
                    if (o == null) {
                        throw new NullPointerException("handler returned a null outcome");
                    }
                    e.outcome = o;
                } catch (Throwable t) {
                    log.warn("handler for group '{}' on '{}' threw instead of returning an outcome; redelivering",
                            request.group(), request.stream(), t);
                    e.crashed = true;
                }
                e.done = true;
            } finally {
                active.decrementAndGet();
                signal.signal();
            }
        });
    }

    private void dispatchRetry(RetryEntry r) {
        lanes.submit(r.message.key(), () -> {
            active.incrementAndGet();
            try {
                if (closing || r.ignored) {
                    return;
                }
                try {
                    Outcome o = handler.handle(new Delivery(r.message, r.attempt, r.origin));
                    if (o == null) {
                        throw new NullPointerException("handler returned a null outcome");
                    }
                    r.outcome = o;
                } catch (Throwable t) {
                    log.warn("handler for group '{}' on '{}' threw instead of returning an outcome; redelivering",
                            request.group(), request.stream(), t);
                    r.crashed = true;
                }
                retriesDone.add(r);
            } finally {
                active.decrementAndGet();
                signal.signal();
            }
        });
    }

    /** Moves settled outcomes into pending writes. */
    private void settle(long now) {
        for (Part p : parts.values()) {
            while (!p.inflight.isEmpty() && p.inflight.peekFirst().done) {
                Entry e = p.inflight.pollFirst();
                Write w = writeFor(e, p.partition, now);
                if (w != null) {
                    p.writes.add(w);
                }
            }
        }
        RetryEntry r;
        while ((r = retriesDone.poll()) != null) {
            if (r.ignored || retries.remove(r.id) == null) {
                continue;
            }
            Outcome o = r.outcome;
            if (r.crashed || o == null) {
                retryWrites.add(new Write(Write.Kind.UPDATE_RETRY, r.id, r.partition, r.message, r.attempt + 1,
                        now + CRASH_DELAY_MS, null));
                nextRetryCheck = Math.min(nextRetryCheck, now + CRASH_DELAY_MS);
                continue;
            }
            switch (o.kind()) {
                case ACK:
                    retryWrites.add(new Write(Write.Kind.DELETE_RETRY, r.id, r.partition, null, 0, 0, null));
                    break;
                case RETRY:
                    long at = now + o.delay().toMillis();
                    retryWrites.add(new Write(Write.Kind.UPDATE_RETRY, r.id, r.partition,
                            r.message.withHeaders(o.headers()), r.attempt + 1, at, null));
                    nextRetryCheck = Math.min(nextRetryCheck, at);
                    break;
                case DEAD:
                default:
                    retryWrites.add(new Write(Write.Kind.INSERT_DEAD, 0, r.partition,
                            deadMessage(r.message, o.reason(), o.headers(), r.origin, now), 0, now, o.reason()));
                    retryWrites.add(new Write(Write.Kind.DELETE_RETRY, r.id, r.partition, null, 0, 0, null));
                    break;
            }
        }
    }

    private Write writeFor(Entry e, int partition, long now) {
        if (e.undecodable != null) {
            return new Write(Write.Kind.INSERT_DEAD, 0, partition,
                    deadMessage(e.message, e.undecodable, Map.of(), e.origin, now), 0, now, e.undecodable);
        }
        if (e.deferUntil > 0) {
            nextRetryCheck = Math.min(nextRetryCheck, e.deferUntil);
            return new Write(Write.Kind.INSERT_RETRY, 0, partition, e.message.withDeliverAt(null), 1, e.deferUntil,
                    null);
        }
        Outcome o = e.outcome;
        if (e.crashed || o == null) {
            nextRetryCheck = Math.min(nextRetryCheck, now + CRASH_DELAY_MS);
            return new Write(Write.Kind.INSERT_RETRY, 0, partition, e.message, 2, now + CRASH_DELAY_MS, null);
        }
        switch (o.kind()) {
            case ACK:
                return null;
            case RETRY:
                long at = now + o.delay().toMillis();
                nextRetryCheck = Math.min(nextRetryCheck, at);
                return new Write(Write.Kind.INSERT_RETRY, 0, partition, e.message.withHeaders(o.headers()), 2, at,
                        null);
            case DEAD:
            default:
                return new Write(Write.Kind.INSERT_DEAD, 0, partition,
                        deadMessage(e.message, o.reason(), o.headers(), e.origin, now), 0, now, o.reason());
        }
    }

    private TransportMessage deadMessage(TransportMessage m, String reason, Map<String, String> outcomeHeaders,
                                         String origin, long now) {
        Map<String, String> h = new LinkedHashMap<>(outcomeHeaders);
        h.putIfAbsent(MessageHeaders.DLQ_REASON, reason);
        h.put(MessageHeaders.DLQ_GROUP, request.group());
        h.put(MessageHeaders.DLQ_ORIGINAL_STREAM, request.stream());
        h.put(MessageHeaders.DLQ_ORIGIN, origin);
        h.put(MessageHeaders.DLQ_TIME, Instant.ofEpochMilli(now).toString());
        return m.withHeaders(h);
    }

    /** Commits cursor moves and the writes they carry, when due (or when forced). */
    private void flush(Connection c, long now, boolean force) throws SQLException {
        List<Part> dirty = new ArrayList<>();
        boolean urgent = !retryWrites.isEmpty();
        for (Part p : parts.values()) {
            if (p.target() > p.committed || !p.writes.isEmpty()) {
                dirty.add(p);
                urgent |= !p.writes.isEmpty();
            }
        }
        if (dirty.isEmpty() && retryWrites.isEmpty()) {
            return;
        }
        if (!force && !urgent && now - lastCommit < store.settings.commitInterval().toMillis()) {
            return;
        }
        Map<Part, Long> targets = new HashMap<>();
        for (Part p : dirty) {
            targets.put(p, p.target());
        }
        Set<Part> lost = Jdbc.inTransaction(c, x -> {
            // Losing this in a database crash only means redelivering what it settled (at least once).
            Jdbc.commitAsynchronously(x, store.dialect);
            Set<Part> gone = new HashSet<>();
            try (PreparedStatement ps = x.prepareStatement("UPDATE " + store.settings.cursor()
                    + " SET position = ?, updated_at = ? WHERE group_name = ? AND stream = ? AND partition_no = ?"
                    + " AND owner = ? AND epoch = ?")) {
                for (Part p : dirty) {
                    long target = targets.get(p);
                    if (target <= p.committed) {
                        continue;
                    }
                    ps.setLong(1, target);
                    ps.setLong(2, now);
                    ps.setString(3, request.group());
                    ps.setString(4, request.stream());
                    ps.setInt(5, p.partition);
                    ps.setString(6, leases.memberId());
                    ps.setInt(7, p.epoch);
                    if (ps.executeUpdate() != 1) {
                        gone.add(p);
                    }
                }
            }
            List<Write> writes = new ArrayList<>(retryWrites);
            for (Part p : dirty) {
                if (!gone.contains(p)) {
                    writes.addAll(p.writes);
                }
            }
            execute(x, writes);
            return gone;
        });
        lastCommit = now;
        retryWrites.clear();
        for (Part p : dirty) {
            if (lost.contains(p)) {
                log.info("group '{}' on stream '{}': partition {} was taken over before its cursor was committed;"
                        + " the new owner redelivers from its last commit", request.group(), request.stream(),
                        p.partition);
                drop(p.partition);
            } else {
                p.committed = Math.max(p.committed, targets.get(p));
                p.writes.clear();
            }
        }
    }

    private void execute(Connection c, List<Write> writes) throws SQLException {
        if (writes.isEmpty()) {
            return;
        }
        TransportSettings s = store.settings;
        PreparedStatement insertRetry = null;
        PreparedStatement updateRetry = null;
        PreparedStatement deleteRetry = null;
        PreparedStatement insertDead = null;
        try {
            for (Write w : writes) {
                switch (w.kind()) {
                    case INSERT_RETRY:
                        if (insertRetry == null) {
                            insertRetry = c.prepareStatement("INSERT INTO " + s.retry() + " (group_name, stream,"
                                    + " partition_no, msg_key, headers, body, priority, attempt, visible_at,"
                                    + " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
                        }
                        insertRetry.setString(1, request.group());
                        insertRetry.setString(2, request.stream());
                        insertRetry.setInt(3, w.partition());
                        insertRetry.setString(4, w.message().key());
                        insertRetry.setString(5, HeaderCodec.encode(w.message().headers(), null, null));
                        insertRetry.setBytes(6, w.message().body());
                        insertRetry.setInt(7, w.message().priority());
                        insertRetry.setInt(8, w.attempt());
                        insertRetry.setLong(9, w.visibleAt());
                        insertRetry.setLong(10, System.currentTimeMillis());
                        insertRetry.addBatch();
                        break;
                    case UPDATE_RETRY:
                        if (updateRetry == null) {
                            updateRetry = c.prepareStatement("UPDATE " + s.retry()
                                    + " SET headers = ?, attempt = ?, visible_at = ? WHERE id = ?");
                        }
                        updateRetry.setString(1, HeaderCodec.encode(w.message().headers(), null, null));
                        updateRetry.setInt(2, w.attempt());
                        updateRetry.setLong(3, w.visibleAt());
                        updateRetry.setLong(4, w.retryId());
                        updateRetry.addBatch();
                        break;
                    case DELETE_RETRY:
                        if (deleteRetry == null) {
                            deleteRetry = c.prepareStatement("DELETE FROM " + s.retry() + " WHERE id = ?");
                        }
                        deleteRetry.setLong(1, w.retryId());
                        deleteRetry.addBatch();
                        break;
                    case INSERT_DEAD:
                    default:
                        if (insertDead == null) {
                            insertDead = c.prepareStatement("INSERT INTO " + s.deadLetter() + " (group_name,"
                                    + " dead_at, reason, stream, msg_key, event_id, event_type, headers, body,"
                                    + " priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
                        }
                        insertDead.setString(1, request.group());
                        insertDead.setLong(2, w.visibleAt());
                        insertDead.setString(3, w.reason() == null ? "" : w.reason());
                        bindDead(insertDead, 4, w.message());
                        insertDead.addBatch();
                        break;
                }
            }
            for (PreparedStatement ps : new PreparedStatement[] {insertRetry, updateRetry, deleteRetry, insertDead}) {
                if (ps != null) {
                    ps.executeBatch();
                }
            }
        } finally {
            Jdbc.closeQuietly(insertRetry);
            Jdbc.closeQuietly(updateRetry);
            Jdbc.closeQuietly(deleteRetry);
            Jdbc.closeQuietly(insertDead);
        }
    }

    /** stream, msg_key, event_id, event_type, headers, body, priority (dead letters have no deliver_at). */
    private static void bindDead(PreparedStatement ps, int i, TransportMessage m) throws SQLException {
        ps.setString(i++, m.stream());
        ps.setString(i++, m.key());
        ps.setString(i++, m.header(MessageHeaders.ID));
        ps.setString(i++, m.header(MessageHeaders.TYPE));
        ps.setString(i++, HeaderCodec.encode(m.headers(), MessageHeaders.ID, MessageHeaders.TYPE));
        ps.setBytes(i++, m.body());
        ps.setInt(i, m.priority());
    }

    // ---------------------------------------------------------------------------------------------- closing

    @Override
    public void close(Duration timeout) {
        if (!closing) {
            closeDeadline = System.nanoTime() + timeout.toNanos();
            closing = true;
            signal.signal();
        }
        try {
            finished.await(timeout.toMillis() + 10_000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** On the poller thread: let running handlers finish (until the deadline), commit, hand partitions back. */
    private void shutdown() throws InterruptedException {
        int dropped = lanes.dropQueued();
        if (dropped > 0) {
            log.debug("group '{}' on '{}': {} queued message(s) left for redelivery", request.group(),
                    request.stream(), dropped);
        }
        while (active.get() > 0 && System.nanoTime() < closeDeadline) {
            signal.await(10);
        }
        if (active.get() > 0) {
            log.warn("subscription of group '{}' on '{}' closed with {} handler(s) still running; their messages"
                    + " will be redelivered", request.group(), request.stream(), active.get());
        }
        for (int attempt = 0; attempt < 3; attempt++) {
            try {
                long now = System.currentTimeMillis();
                Connection c = connection();
                settle(now);
                for (Part p : parts.values()) {
                    for (Entry e : p.inflight) {
                        e.ignored = true; // whatever finishes later is redelivered, not committed
                    }
                }
                flush(c, now, true);
                leases.leave(c, now);
                return;
            } catch (SQLException | RuntimeException | AssertionError e) {
                log.warn("group '{}' on '{}': could not commit on close ({}); uncommitted messages will be"
                        + " redelivered", request.group(), request.stream(), e.toString());
                Jdbc.closeQuietly(conn);
                conn = null;
            }
        }
    }

    @Override
    public String toString() {
        return "JdbcSubscription{group=" + request.group() + ", stream=" + request.stream() + ", member="
                + leases.memberId() + ", partitions=" + parts.keySet() + '}';
    }
}
