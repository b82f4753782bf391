package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportSubscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One group's subscription to one stream on this instance: a poller thread that holds a fair share of the
 * stream's partitions (through {@link PartitionLeases}), reads the log past each partition's cursor, hands
 * messages to worker lanes (per-key order), and commits each partition's cursor up to the longest prefix whose
 * outcomes are settled. Retries, delayed sends and replayed dead letters wait in the retry table; dead letters go
 * to the dead-letter table, in the same transaction as the cursor move that passes them.
 *
 * <p>Nothing behind a cursor can appear later: sequences are gapless and commit-ordered per stream (see
 * {@link LogAppender}), and the poller reads the committed head first and then only rows up to it.
 *
 * <p>This class runs the loop and owns the leases (heartbeats, rebalancing, replays noticed by a changed epoch);
 * each cycle's steps are {@link LogFetcher} (read), {@link LogDispatcher} (deliver) and {@link CursorCommitter}
 * (settle and commit), over one {@link SubscriptionState}.
 */
public final class LogSubscription implements TransportSubscription {

    private static final Logger log = LoggerFactory.getLogger(LogSubscription.class);

    private final LogStore store;
    private final SubscriptionRequest request;
    private final PartitionLeases leases;
    private final Lanes lanes;
    private final Signal signal = new Signal();
    private final Thread poller;
    private final CountDownLatch finished = new CountDownLatch(1);
    private final Runnable onClosed;
    private final SubscriptionState st;
    private final LogFetcher fetcher;
    private final LogDispatcher dispatcher;
    private final CursorCommitter committer;
    private volatile Set<String> types;
    private volatile boolean closing;
    private volatile long closeDeadline;
    /** Set by a replay in this JVM: heartbeat at the next cycle, so the moved cursors apply at once. */
    private volatile boolean heartbeatNow;

    // Poller thread only.
    private final Map<Integer, LogPart> parts;
    private Connection conn;
    private long nextHeartbeat;
    private long idleMillis;
    private int failures;

    public LogSubscription(LogStore store, SubscriptionRequest request, MessageHandler handler, String memberId,
                           Runnable onClosed) {
        this.store = store;
        this.request = request;
        this.types = request.types();
        this.onClosed = onClosed;
        this.st = new SubscriptionState(store, request);
        this.parts = st.parts;
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
        this.dispatcher = new LogDispatcher(request, handler, lanes, signal, () -> closing);
        this.fetcher = new LogFetcher(st, leases, dispatcher, () -> types);
        this.committer = new CursorCommitter(st, leases, dispatcher);
        Wakeups.register(store.database, request.stream(), signal);
        this.poller = new Thread(this::run, "eventbus-jdbc-poll-" + label);
        this.poller.setDaemon(true);
        this.poller.start();
    }

    /** This member's id in the cursor and member tables. */
    public String memberId() {
        return leases.memberId();
    }

    /** True when this is a subscription of {@code group} to {@code stream}. */
    public boolean reads(String group, String stream) {
        return request.group().equals(group) && request.stream().equals(stream);
    }

    /** A replay moved this group's cursors: look at the cursor rows now instead of at the next heartbeat. */
    public void heartbeatNow() {
        heartbeatNow = true;
        signal.signal();
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
        if (now >= nextHeartbeat || heartbeatNow) {
            heartbeatNow = false;
            apply(leases.heartbeat(c, now, releasable()), now);
            nextHeartbeat = now + s.heartbeat().toMillis();
        }
        committer.settle(now);
        dropAll(committer.flush(c, now, false));
        releaseRevoked(c, now);

        int got = 0;
        // A batch group holds messages until its batches fill: leave room for two batches per lane.
        if (st.inflight() < Math.max(s.fetchSize(), 2 * request.batchSize() * request.concurrency())) {
            got += fetcher.fetchLog(c, now);
            got += fetcher.fetchRetries(c, now);
        }
        if (got > 0) {
            idleMillis = s.pollMin().toMillis();
            return 0;
        }
        idleMillis = Math.min(s.pollMax().toMillis(), Math.max(1, idleMillis * 2));
        long wait = Math.min(idleMillis, nextHeartbeat - now);
        wait = Math.min(wait, st.nextRetryCheck - now);
        if (committer.hasDirty()) {
            wait = Math.min(wait, st.lastCommit + s.commitInterval().toMillis() - now);
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

    private Set<Integer> releasable() {
        Set<Integer> out = new HashSet<>();
        for (LogPart p : parts.values()) {
            if (p.idle() && !st.hasRetriesFor(p.partition)) {
                out.add(p.partition);
            }
        }
        return out;
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
            parts.put(l.partition(), new LogPart(l.partition(), l.position(), l.epoch()));
            st.nextRetryCheck = now;
        }
        for (PartitionLeases.Lease l : change.acquired()) {
            discard(l.partition()); // nothing of an older hold may be committed under the new one
            parts.put(l.partition(), new LogPart(l.partition(), l.position(), l.epoch()));
            st.nextRetryCheck = now;
        }
        for (int p : change.revoke()) {
            LogPart part = parts.get(p);
            if (part != null) {
                part.revoking = true;
            }
        }
        if (!change.revoke().isEmpty()) {
            // Come back soon to hand them over once drained.
            nextHeartbeat = Math.min(nextHeartbeat, now + 50);
        }
    }

    private void dropAll(List<LogPart> lost) {
        for (LogPart p : lost) {
            drop(p.partition);
        }
    }

    /** Forgets a partition we no longer hold: what is in flight for it, and its lease. */
    private void drop(int partition) {
        discard(partition);
        leases.forget(partition);
    }

    /** Forgets what is in flight for a partition: those messages are redelivered by whoever reads it next. */
    private void discard(int partition) {
        LogPart part = parts.remove(partition);
        if (part != null) {
            for (LogEntry e : part.inflight) {
                e.ignored = true;
            }
        }
        for (Iterator<RetryEntry> it = st.retries.values().iterator(); it.hasNext(); ) {
            RetryEntry r = it.next();
            if (r.partition == partition) {
                r.ignored = true;
                it.remove();
            }
        }
    }

    private void releaseRevoked(Connection c, long now) throws SQLException {
        Set<Integer> done = new HashSet<>();
        for (LogPart p : parts.values()) {
            if (p.revoking && p.idle() && !st.hasRetriesFor(p.partition)) {
                done.add(p.partition);
            }
        }
        if (!done.isEmpty()) {
            leases.releaseNow(c, done, now);
            done.forEach(parts::remove);
        }
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
        while (dispatcher.active.get() > 0 && System.nanoTime() < closeDeadline) {
            signal.await(10);
        }
        if (dispatcher.active.get() > 0) {
            log.warn("subscription of group '{}' on '{}' closed with {} handler(s) still running; their messages"
                    + " will be redelivered", request.group(), request.stream(), dispatcher.active.get());
        }
        for (int attempt = 0; attempt < 3; attempt++) {
            try {
                long now = System.currentTimeMillis();
                Connection c = connection();
                committer.settle(now);
                for (LogPart p : parts.values()) {
                    for (LogEntry e : p.inflight) {
                        e.ignored = true; // whatever finishes later is redelivered, not committed
                    }
                }
                committer.flush(c, now, true);
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
