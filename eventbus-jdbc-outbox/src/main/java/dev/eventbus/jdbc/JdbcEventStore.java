package dev.eventbus.jdbc;

import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.EventBusException;
import dev.eventbus.JsonSerializer;
import dev.eventbus.PublishOptions;
import dev.eventbus.Serializer;
import dev.eventbus.jdbc.internal.GroupCommit;
import dev.eventbus.jdbc.internal.GroupStatementAppend;
import dev.eventbus.jdbc.internal.HeaderCodec;
import dev.eventbus.jdbc.internal.Jdbc;
import dev.eventbus.jdbc.internal.OneStatementAppend;
import dev.eventbus.jdbc.internal.StoreSchema;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.store.ConcurrencyException;
import dev.eventbus.store.EventStore;
import dev.eventbus.store.ExpectedVersion;
import dev.eventbus.store.RecordedEvent;
import dev.eventbus.store.Snapshot;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import javax.sql.DataSource;

/**
 * An {@link EventStore} in a relational database (PostgreSQL, MariaDB/MySQL, H2) whose appends also publish: each
 * appended event is written to the {@link Outbox} in the same transaction, so an {@link OutboxRelay} delivers it
 * to subscribers exactly when the append commits (no dual write).
 *
 * <pre>{@code
 * JdbcEventStore store = JdbcEventStore.builder(dataSource).bus(bus).build();
 * try (Connection c = dataSource.getConnection()) {
 *     c.setAutoCommit(false);
 *     store.append("order-7", ExpectedVersion.noStream(), List.of(new OrderPlaced("7", 1200)), c);
 *     updateSomethingElse(c);                      // your own SQL, same transaction
 *     c.commit();
 * }
 * }</pre>
 *
 * <h2>Global order without gaps</h2>
 * Appends do not take a global position: they insert their events with none (and an identity id), so appends to
 * different streams run and commit concurrently (the database's group commit works for them). Positions are given
 * afterwards by a <em>sequencer</em>, in a short transaction of its own that holds the row lock on the store's one
 * {@code <prefix>store_head} row: it reads the committed events without a position (in id order), numbers them
 * from the head on, moves the head and commits. Only a sequencer writes positions, one at a time, each continuing
 * where the previous one's commit left the head; a transaction that is still open when a sequencer runs is not
 * visible to it and simply gets its positions from a later run. So positions have no gaps and become visible as a
 * prefix {@code 1..head}: a reader that tails {@link #readAll} by position never skips an event that commits later.
 * The sequencer runs at the start of every {@link #readAll} and {@link #headPosition} (readers drive it; no
 * background thread) unless another one is running at that moment ({@code SKIP LOCKED}: readers never queue behind
 * each other), so an event gets its position when a reader first looks past the head after its commit;
 * until then {@link RecordedEvent#position()} of an event read by {@link #read} is 0. Per stream, position order is
 * version order (a stream's next append cannot insert before the previous one commits, so its ids are larger).
 * This works the same on PostgreSQL, MariaDB and H2 (PostgreSQL's transaction-visibility fence, as Marten uses it,
 * has no counterpart on the other two) and is proven under 8 concurrent writers by the module's tests.
 *
 * <h2>Optimistic concurrency</h2>
 * Each stream has one row in {@code <prefix>store_stream} holding its version. An exact expectation is a
 * conditional {@code UPDATE ... WHERE version = ?}, {@code noStream} an insert that must not find the row, and
 * {@code any} an upsert; the database's row lock makes exactly one of several concurrent appenders win, and the
 * others get a {@link ConcurrencyException} (on PostgreSQL in {@code REPEATABLE READ} or stricter, a serialization
 * failure instead, which is retriable). A unique key on (stream, version) backs it up.
 *
 * <h2>Round trips</h2>
 * On PostgreSQL an append of up to 500 events is one statement (stream row, events and outbox rows in
 * data-modifying CTEs); in a transaction of the store's own it runs in auto-commit mode, where that statement is the
 * whole transaction: one round trip per append. Elsewhere (MariaDB, H2, larger appends) it is one statement per
 * table and a commit.
 *
 * <h2>Group commit</h2>
 * Small appends (up to 4 events) in the store's own transaction ({@link #append(String, ExpectedVersion, List)}) that
 * run at the same time on different threads share a transaction and its commit (on by default,
 * {@link Builder#groupCommit}); larger appends commit alone, in parallel, as their own rows outweigh the shared
 * per-transaction work. There is no
 * thread and nothing to close: the first caller that finds no batch being written becomes the <em>leader</em> and
 * writes its append at once (a lone append waits for nothing); callers arriving meanwhile queue; when the leader's
 * commit returns it completes its batch's callers and hands the leadership to the first queued caller, which takes
 * the whole queue (at most 64 appends) as the next batch, on a connection it borrows. One batch is in
 * flight at a time. Each append returns (or throws) when its own outcome is committed, and stays all-or-nothing by
 * itself:
 * <ul>
 * <li>A conflict refuses that append alone ({@link ConcurrencyException} naming the version it met); the others of
 * its batch commit.</li>
 * <li>Appends to one stream in a batch run in their queue order, each seeing the previous one: exactly as if they
 * had run one after the other. Different streams are written in stream-id order, so two batches (of two stores or
 * two JVMs) lock stream rows in one order.</li>
 * <li>Any other error before the commit (a value too large for a column, a deadlock, ...) rolls the batch back and
 * its appends are written again one by one, each in a transaction of its own, so one bad append fails alone. A
 * failed commit fails its whole batch: like a single append's, its outcome is unknown.</li>
 * <li>On PostgreSQL a batch is one auto-commit statement per <em>round</em> ({@code internal.GroupStatementAppend}):
 * a round holds at most one append per stream, so a batch to distinct streams is one statement, one round trip and
 * one commit, whatever its size. A statement that fails is its own transaction and wrote nothing; its appends (and
 * the later rounds') go one by one, except when the connection may have been lost while it ran (it may have
 * committed), which fails that round's appends as a single append would fail. On MariaDB and H2 a batch is the
 * appends' statements in one transaction and one commit.</li>
 * <li>The global order is unaffected: the sequencer sees a batch's events when it commits, like any append's.</li>
 * <li>A queued caller that is interrupted leaves the queue with an {@link EventBusException} (nothing written); once
 * its append is being written it waits for the outcome and returns with its interrupt flag set. A waiting caller
 * checks every second that the leader's thread is alive, and the leader completes its batch in a {@code finally},
 * so no caller waits for a leader that is gone.</li>
 * </ul>
 * Appends in the caller's transaction ({@link #append(String, ExpectedVersion, List, Connection)}) are never grouped.
 *
 * <h2>Transactions</h2>
 * Methods that take a {@link Connection} join the caller's transaction (the connection must not be in auto-commit
 * mode) and never commit, roll back or close it; after an exception the caller must roll back. The other methods
 * borrow a connection from the {@link DataSource} and commit their own transaction. Appending to several streams
 * in one transaction is allowed; such transactions may deadlock with each other, which the database reports as a
 * retriable error.
 *
 * <p>Thread-safe. Every method blocks for its statements. Holds no connection between calls; nothing to close.
 */
public final class JdbcEventStore implements EventStore {

    private static final String COLUMNS = "position, stream_id, version, event_id, event_type, bus_stream, headers, body";

    private final DataSource dataSource;
    private final EventBus bus;
    private final Outbox outbox;
    private final JdbcDialect dialect;
    private final String prefix;
    private final Serializer snapshotSerializer = new JsonSerializer();
    private final String insertEvent;
    private final String readStream;
    private final String readAll;
    private final String lockHead;
    private final String unsequenced;
    /** PostgreSQL only: the whole append in one statement (null elsewhere: MariaDB and H2 have no DML in CTEs). */
    private final OneStatementAppend oneStatement;
    /** Null when group commit is off. */
    private final GroupCommit<Append> groupCommit;
    /** PostgreSQL only: a group commit's appends to distinct streams in one statement. */
    private final GroupStatementAppend groupStatement;

    /** Group commit: at most this many appends, and this many events, share a transaction. */
    static final int GROUP_MAX_APPENDS = 64;
    static final int GROUP_MAX_EVENTS = 500;
    /**
     * Appends of more events commit alone, in parallel: their own rows outweigh the per-transaction work a batch
     * shares, and one batch in flight would run them one after another (measured: 10-event appends lost 0.68x to
     * 1.04x of their throughput when grouped; see EVENT-STORE.md).
     */
    static final int GROUP_MAX_EVENTS_PER_APPEND = 4;

    private JdbcEventStore(Builder b, JdbcDialect dialect, Outbox outbox) {
        this.dataSource = b.dataSource;
        this.bus = b.bus;
        this.outbox = outbox;
        this.dialect = dialect;
        this.prefix = b.prefix;
        this.insertEvent = "INSERT INTO " + prefix + "store_event (stream_id, version, event_id, event_type,"
                + " bus_stream, headers, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
        this.readStream = "SELECT " + COLUMNS + " FROM " + prefix + "store_event WHERE stream_id = ? AND version >= ?"
                + " ORDER BY version";
        this.lockHead = "SELECT position FROM " + prefix + "store_head WHERE id = 1 FOR UPDATE SKIP LOCKED";
        this.unsequenced = "SELECT id FROM " + prefix + "store_event WHERE position IS NULL ORDER BY id LIMIT ?";
        this.readAll = "SELECT " + COLUMNS + " FROM " + prefix + "store_event WHERE position >= ? ORDER BY position"
                + " LIMIT ?";
        this.oneStatement = dialect == JdbcDialect.POSTGRESQL ? new OneStatementAppend(prefix, outbox.table()) : null;
        this.groupStatement = dialect == JdbcDialect.POSTGRESQL
                ? new GroupStatementAppend(prefix, outbox.table()) : null;
        this.groupCommit = b.groupCommit ? new GroupCommit<>(this::writeBatch, GROUP_MAX_APPENDS, GROUP_MAX_EVENTS)
                : null;
    }

    /** A builder; {@link Builder#bus} is required. */
    public static Builder builder(DataSource dataSource) {
        return new Builder(Objects.requireNonNull(dataSource, "dataSource"));
    }

    /**
     * The DDL of the event store and projection tables, for {@code eventbus.jdbc.create-schema=never} (the outbox
     * tables come from {@link JdbcSchema}).
     */
    public static String ddl(JdbcDialect dialect, String tablePrefix) {
        return StoreSchema.script(dialect, StoreSchema.validPrefix(tablePrefix));
    }

    /** The dialect in use. */
    public JdbcDialect dialect() {
        return dialect;
    }

    /** The outbox every append writes to. */
    public Outbox outbox() {
        return outbox;
    }

    DataSource dataSource() {
        return dataSource;
    }

    /** The group commit, or null when off (for tests). */
    GroupCommit<?> groupCommit() {
        return groupCommit;
    }

    String prefix() {
        return prefix;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Append

    /**
     * Appends in a transaction of its own, committed before it returns; with group commit (the default) possibly a
     * transaction shared with appends of other threads (see "Group commit" above). See {@link EventStore#append}.
     */
    @Override
    public long append(String streamId, ExpectedVersion expected, List<?> events) {
        List<TransportMessage> messages = encode(streamId, expected, events);
        Append a = new Append(streamId, expected, messages);
        if (groupCommit == null || messages.size() > GROUP_MAX_EVENTS_PER_APPEND) {
            return appendAlone(a);
        }
        return groupCommit.submit(a, messages.size());
    }

    /** One append of the store's own transaction, as queued for the group commit. */
    private record Append(String streamId, ExpectedVersion expected, List<TransportMessage> messages) {
    }

    /** An append in a transaction of its own (on PostgreSQL one auto-commit statement). */
    private long appendAlone(Append a) {
        List<TransportMessage> messages = a.messages();
        String streamId = a.streamId();
        try (Connection c = dataSource.getConnection()) {
            if (inOneStatement(messages)) {
                // One statement is a transaction of its own in auto-commit mode: the stream row, the events and
                // their outbox rows commit together, in one round trip (no BEGIN, no COMMIT).
                if (!c.getAutoCommit()) {
                    c.setAutoCommit(true);
                }
                return appendInOneStatement(c, streamId, a.expected(), messages);
            }
            c.setAutoCommit(false);
            try {
                long v = appendMessages(c, streamId, a.expected(), messages);
                c.commit();
                return v;
            } catch (RuntimeException | SQLException e) {
                rollbackQuietly(c);
                throw e;
            }
        } catch (SQLException e) {
            throw failure("append to stream '" + streamId + "'", e);
        }
    }

    /**
     * The group commit's writer: the batch's appends in one transaction, in stream order (an append's order relative
     * to the others of its stream kept), and one commit. An append that meets a conflict of the clean kind (nothing
     * written, the transaction still usable) is refused alone. Any other failure before the commit rolls the batch
     * back and writes its appends one by one, each in a transaction of its own, so a bad append fails alone. A failed
     * commit fails the whole batch (its outcome is unknown, as a single append's would be).
     */
    private void writeBatch(List<GroupCommit.Request<Append>> batch) {
        if (batch.size() == 1) {
            completeAlone(batch.get(0));
            return;
        }
        List<GroupCommit.Request<Append>> ordered = new ArrayList<>(batch);
        // Every batch locks streams in one order: two batches (of two stores or JVMs) cannot deadlock each other.
        ordered.sort(Comparator.comparing(r -> r.work().streamId()));
        if (groupStatement != null) {
            writeInStatements(ordered);
            return;
        }
        int n = ordered.size();
        long[] versions = new long[n];
        long[] actual = new long[n];
        boolean written;
        Connection c;
        try {
            c = dataSource.getConnection();
        } catch (SQLException e) {
            failAll(ordered, "borrow a connection for a group commit", e);
            return;
        }
        try {
            c.setAutoCommit(false);
            written = statements(c, ordered, versions, actual);
            if (written) {
                try {
                    c.commit();
                } catch (SQLException e) {
                    rollbackQuietly(c);
                    failAll(ordered, "commit a group commit of " + n + " appends", e);
                    return;
                }
                for (int i = 0; i < n; i++) {
                    GroupCommit.Request<Append> r = ordered.get(i);
                    if (versions[i] < 0) {
                        r.fail(new ConcurrencyException(r.work().streamId(), r.work().expected(), actual[i]));
                    } else {
                        r.complete(versions[i]);
                    }
                }
            }
        } catch (SQLException e) {
            failAll(ordered, "begin a group commit", e);
            return;
        } finally {
            Jdbc.closeQuietly(c);
        }
        if (!written) {
            for (GroupCommit.Request<Append> r : ordered) {
                completeAlone(r);
            }
        }
    }

    /**
     * PostgreSQL: the batch as one auto-commit statement per round ({@link GroupStatementAppend}), a round holding
     * at most one append per stream (a stream's second append of the batch goes in the second round, and so on), so
     * a batch to distinct streams is one statement, one round trip and one commit. A clean conflict refuses its
     * append alone. A statement that fails otherwise wrote nothing (it was its own transaction): its appends, and
     * those of the later rounds, are written one by one. A failure that may have cut the connection while the
     * statement committed fails the round's appends instead (their outcome is unknown, as a single append's would be).
     */
    private void writeInStatements(List<GroupCommit.Request<Append>> ordered) {
        List<List<GroupCommit.Request<Append>>> rounds = new ArrayList<>();
        Map<String, Integer> seen = new HashMap<>();
        for (GroupCommit.Request<Append> r : ordered) {
            int round = seen.merge(r.work().streamId(), 1, Integer::sum) - 1;
            if (round == rounds.size()) {
                rounds.add(new ArrayList<>());
            }
            rounds.get(round).add(r);
        }
        int next = 0;
        try (Connection c = dataSource.getConnection()) {
            if (!c.getAutoCommit()) {
                c.setAutoCommit(true);
            }
            for (; next < rounds.size(); next++) {
                List<GroupCommit.Request<Append>> round = rounds.get(next);
                List<GroupStatementAppend.Part> parts = new ArrayList<>(round.size());
                for (GroupCommit.Request<Append> r : round) {
                    Append a = r.work();
                    int kind = a.expected().isAny() ? GroupStatementAppend.ANY
                            : a.expected().version() == 0 ? GroupStatementAppend.NO_STREAM : GroupStatementAppend.EXACT;
                    parts.add(new GroupStatementAppend.Part(a.streamId(), kind,
                            a.expected().isAny() ? 0 : a.expected().version(), a.messages()));
                }
                long[] versions;
                try {
                    versions = groupStatement.run(c, parts, System.currentTimeMillis());
                } catch (SQLException e) {
                    if (Jdbc.mayHaveCommitted(e)) {
                        failAll(round, "append in a group commit", e);
                        next++;
                    }
                    break; // this round (unless failed) and the later ones one by one, below
                }
                for (int i = 0; i < round.size(); i++) {
                    if (versions[i] >= 0) {
                        round.get(i).complete(versions[i]);
                    }
                }
                for (int i = 0; i < round.size(); i++) {
                    if (versions[i] < 0) {
                        Append a = round.get(i).work();
                        long actual;
                        try {
                            actual = reportedVersion(c, a.streamId());
                        } catch (SQLException e) {
                            actual = -1;
                        }
                        round.get(i).fail(new ConcurrencyException(a.streamId(), a.expected(), actual));
                    }
                }
            }
        } catch (SQLException e) {
            // getConnection, setAutoCommit or close: what is not complete goes one by one (and fails there if the
            // database is gone).
        }
        for (List<GroupCommit.Request<Append>> round : rounds) {
            for (GroupCommit.Request<Append> r : round) {
                if (!r.isDone()) {
                    completeAlone(r);
                }
            }
        }
    }

    /**
     * The batch's statements on {@code c}: false (rolled back) when one failed other than by a clean conflict; a
     * clean conflict leaves {@code versions[i] = -1} and the version it met in {@code actual[i]}.
     */
    private boolean statements(Connection c, List<GroupCommit.Request<Append>> ordered, long[] versions,
                               long[] actual) {
        try {
            for (int i = 0; i < ordered.size(); i++) {
                Append a = ordered.get(i).work();
                versions[i] = appendOrConflict(c, a.streamId(), a.expected(), a.messages());
                if (versions[i] < 0) {
                    actual[i] = reportedVersion(c, a.streamId());
                }
            }
            return true;
        } catch (SQLException | RuntimeException e) {
            rollbackQuietly(c);
            return false;
        }
    }

    private void failAll(List<GroupCommit.Request<Append>> batch, String what, SQLException e) {
        for (GroupCommit.Request<Append> r : batch) {
            r.fail(failure(what, e)); // one exception each: every caller gets its own
        }
    }

    private void completeAlone(GroupCommit.Request<Append> r) {
        try {
            r.complete(appendAlone(r.work()));
        } catch (RuntimeException e) {
            r.fail(e);
        }
    }

    /**
     * Appends in the caller's transaction: the events (and their outbox rows) exist exactly when the caller
     * commits. See {@link EventStore#append}.
     *
     * @throws IllegalStateException when {@code connection} is in auto-commit mode
     * @throws ConcurrencyException  when the stream is not at {@code expected} (roll the transaction back)
     */
    public long append(String streamId, ExpectedVersion expected, List<?> events, Connection connection) {
        List<TransportMessage> messages = encode(streamId, expected, events);
        requireTransaction(connection);
        try {
            return appendMessages(connection, streamId, expected, messages);
        } catch (SQLException e) {
            throw failure("append to stream '" + streamId + "'", e);
        }
    }

    private List<TransportMessage> encode(String streamId, ExpectedVersion expected, List<?> events) {
        if (streamId == null || streamId.isBlank()) {
            throw new IllegalArgumentException("stream id must not be blank, was '" + streamId + "'");
        }
        if (streamId.length() > 200) {
            throw new IllegalArgumentException("stream id longer than 200 characters: " + streamId);
        }
        Objects.requireNonNull(expected, "expected");
        if (events == null || events.isEmpty()) {
            throw new IllegalArgumentException("an append needs at least one event");
        }
        PublishOptions key = PublishOptions.builder().key(streamId).build();
        List<TransportMessage> out = new ArrayList<>(events.size());
        for (Object e : events) {
            out.add(bus.messageFor(Objects.requireNonNull(e, "event"), key));
        }
        return out;
    }

    private boolean inOneStatement(List<TransportMessage> messages) {
        return oneStatement != null && messages.size() <= OneStatementAppend.MAX_EVENTS;
    }

    private long appendInOneStatement(Connection c, String streamId, ExpectedVersion expected,
                                      List<TransportMessage> messages) throws SQLException {
        long v = oneStatementOrConflict(c, streamId, expected, messages);
        if (v < 0) { // nothing was written; the transaction is still usable
            throw new ConcurrencyException(streamId, expected, reportedVersion(c, streamId));
        }
        return v;
    }

    /** {@link OneStatementAppend}: the new version, or -1 when the stream is not as expected (nothing written). */
    private long oneStatementOrConflict(Connection c, String streamId, ExpectedVersion expected,
                                        List<TransportMessage> messages) throws SQLException {
        OneStatementAppend.Expectation kind = expected.isAny() ? OneStatementAppend.Expectation.ANY
                : expected.version() == 0 ? OneStatementAppend.Expectation.NO_STREAM
                : OneStatementAppend.Expectation.EXACT;
        try {
            return oneStatement.run(c, streamId, kind, expected.isAny() ? 0 : expected.version(), messages,
                    System.currentTimeMillis());
        } catch (SQLException e) {
            if (Jdbc.isDuplicate(e)) {
                // The stream row should have caught it; the unique key is the backstop.
                throw new ConcurrencyException(streamId, expected, versionAfterDuplicate(c, streamId));
            }
            throw e;
        }
    }

    private long appendMessages(Connection c, String streamId, ExpectedVersion expected,
                                List<TransportMessage> messages) throws SQLException {
        long v = appendOrConflict(c, streamId, expected, messages);
        if (v < 0) {
            throw new ConcurrencyException(streamId, expected, reportedVersion(c, streamId));
        }
        return v;
    }

    /**
     * The append on {@code c} in its transaction: the new version, or -1 when the stream is not as expected (then
     * nothing was written and the transaction is usable).
     *
     * @throws ConcurrencyException when the unique key caught a conflict the stream row missed (the transaction may
     *                              hold part of the append, or be aborted: roll it back)
     */
    private long appendOrConflict(Connection c, String streamId, ExpectedVersion expected,
                                  List<TransportMessage> messages) throws SQLException {
        if (inOneStatement(messages)) {
            return oneStatementOrConflict(c, streamId, expected, messages);
        }
        int n = messages.size();
        long newVersion;
        if (expected.isAny()) {
            newVersion = addToStream(c, streamId, n);
        } else if (expected.version() == 0) {
            if (!createStream(c, streamId, n)) {
                return -1;
            }
            newVersion = n;
        } else {
            try (PreparedStatement ps = c.prepareStatement("UPDATE " + prefix + "store_stream SET version = ?"
                    + " WHERE stream_id = ? AND version = ?")) {
                ps.setLong(1, expected.version() + n);
                ps.setString(2, streamId);
                ps.setLong(3, expected.version());
                if (ps.executeUpdate() != 1) {
                    return -1;
                }
            }
            newVersion = expected.version() + n;
        }
        long firstVersion = newVersion - n + 1;
        long now = System.currentTimeMillis();
        try (PreparedStatement ps = c.prepareStatement(insertEvent)) {
            for (int i = 0; i < n; i++) {
                TransportMessage m = messages.get(i);
                ps.setString(1, streamId);
                ps.setLong(2, firstVersion + i);
                ps.setString(3, m.id());
                ps.setString(4, m.type());
                ps.setString(5, m.stream());
                ps.setString(6, HeaderCodec.encode(m.headers(), MessageHeaders.ID, MessageHeaders.TYPE));
                ps.setBytes(7, m.body());
                ps.setLong(8, now);
                if (n == 1) {
                    ps.executeUpdate();
                } else {
                    ps.addBatch();
                }
            }
            if (n > 1) {
                ps.executeBatch();
            }
        } catch (SQLException e) {
            if (Jdbc.isDuplicate(e)) {
                // The stream row should have caught it; the unique key is the backstop.
                throw new ConcurrencyException(streamId, expected, versionAfterDuplicate(c, streamId));
            }
            throw e;
        }
        outbox.publishMessages(messages, c);
        return newVersion;
    }

    /** {@code noStream}: creates the stream row; false when it exists (committed by someone else). */
    private boolean createStream(Connection c, String streamId, int n) throws SQLException {
        String sql = switch (dialect) {
            case POSTGRESQL -> "INSERT INTO " + prefix + "store_stream (stream_id, version) VALUES (?, ?)"
                    + " ON CONFLICT (stream_id) DO NOTHING";
            case MARIADB -> "INSERT IGNORE INTO " + prefix + "store_stream (stream_id, version) VALUES (?, ?)";
            default -> "INSERT INTO " + prefix + "store_stream (stream_id, version) VALUES (?, ?)";
        };
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setString(1, streamId);
            ps.setLong(2, n);
            return ps.executeUpdate() == 1;
        } catch (SQLException e) {
            if (dialect == JdbcDialect.H2 && Jdbc.isDuplicate(e)) {
                return false; // H2 keeps the transaction usable after a failed statement
            }
            throw e;
        }
    }

    /** {@code any}: adds {@code n} to the stream's version, creating the stream; returns the new version. */
    private long addToStream(Connection c, String streamId, int n) throws SQLException {
        if (dialect == JdbcDialect.POSTGRESQL) {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + prefix + "store_stream AS s"
                    + " (stream_id, version) VALUES (?, ?) ON CONFLICT (stream_id)"
                    + " DO UPDATE SET version = s.version + EXCLUDED.version RETURNING version")) {
                ps.setString(1, streamId);
                ps.setLong(2, n);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getLong(1);
                }
            }
        }
        if (dialect == JdbcDialect.MARIADB) {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + prefix + "store_stream (stream_id, version)"
                    + " VALUES (?, ?) ON DUPLICATE KEY UPDATE version = version + VALUES(version)")) {
                ps.setString(1, streamId);
                ps.setLong(2, n);
                ps.executeUpdate();
            }
        } else {
            boolean done = incrementStream(c, streamId, n);
            if (!done) {
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + prefix
                        + "store_stream (stream_id, version) VALUES (?, ?)")) {
                    ps.setString(1, streamId);
                    ps.setLong(2, n);
                    ps.executeUpdate();
                } catch (SQLException e) {
                    if (!Jdbc.isDuplicate(e) || !incrementStream(c, streamId, n)) {
                        throw e;
                    }
                }
            }
        }
        return lockedVersion(c, streamId); // our own row lock is held: this is the version we wrote
    }

    private boolean incrementStream(Connection c, String streamId, int n) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + prefix + "store_stream SET version = version + ?"
                + " WHERE stream_id = ?")) {
            ps.setLong(1, n);
            ps.setString(2, streamId);
            return ps.executeUpdate() == 1;
        }
    }

    /**
     * The stream's version for a conflict report: a plain read, because a locking one would make two losers that
     * hold shared locks on the row (MariaDB, after a duplicate key) deadlock while upgrading them.
     */
    private long reportedVersion(Connection c, String streamId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT version FROM " + prefix
                + "store_stream WHERE stream_id = ?")) {
            ps.setString(1, streamId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    /**
     * After a duplicate (stream, version), which only a stream row out of step with its events causes (a row
     * deleted or restored by hand): the stream's highest stored version, or -1 when the transaction cannot read any
     * more (PostgreSQL aborts a transaction at its first error; in auto-commit mode it can).
     */
    private long versionAfterDuplicate(Connection c, String streamId) {
        try (PreparedStatement ps = c.prepareStatement("SELECT MAX(version) FROM " + prefix
                + "store_event WHERE stream_id = ?")) {
            ps.setString(1, streamId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        } catch (SQLException e) {
            return -1;
        }
    }

    /** The version of a row this transaction has locked, by a locking read (MariaDB's snapshot may be older). */
    private long lockedVersion(Connection c, String streamId) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT version FROM " + prefix
                + "store_stream WHERE stream_id = ? FOR UPDATE")) {
            ps.setString(1, streamId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        }
    }

    /**
     * Gives every committed event without a position the next positions, in id order, under the head row's lock
     * (see the class comment). Called by readers; safe to call from anywhere at any time.
     *
     * @return how many events got a position
     */
    long sequence() {
        long total = 0;
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(false);
            // Each statement must see what the previous sequencer committed: READ COMMITTED everywhere.
            int isolation = c.getTransactionIsolation();
            c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
            try {
                while (true) {
                    int n = sequenceBatch(c);
                    c.commit();
                    total += n;
                    if (n < SEQUENCE_BATCH) {
                        return total;
                    }
                }
            } catch (SQLException | RuntimeException e) {
                rollbackQuietly(c);
                throw e;
            } finally {
                c.setTransactionIsolation(isolation); // a pooled connection goes back as it came
            }
        } catch (SQLException e) {
            throw failure("give events their positions", e);
        }
    }

    private static final int SEQUENCE_BATCH = 5000;

    private void requireHeadRow(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM " + prefix + "store_head WHERE id = 1");
             ResultSet rs = ps.executeQuery()) {
            if (rs.next() && rs.getLong(1) == 0) {
                throw new EventBusException("the row of table " + prefix + "store_head is missing: run the store DDL "
                        + "(JdbcEventStore.ddl) again, it inserts the row");
            }
        }
    }

    private int sequenceBatch(Connection c) throws SQLException {
        long head;
        try (PreparedStatement ps = c.prepareStatement(lockHead); ResultSet rs = ps.executeQuery()) {
            if (!rs.next()) {
                requireHeadRow(c);
                return 0; // another sequencer holds the lock: it is doing this work right now
            }
            head = rs.getLong(1);
        }
        long[] ids = new long[SEQUENCE_BATCH];
        int n = 0;
        try (PreparedStatement ps = c.prepareStatement(unsequenced)) {
            ps.setInt(1, SEQUENCE_BATCH);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    ids[n++] = rs.getLong(1);
                }
            }
        }
        if (n == 0) {
            return 0;
        }
        // By primary key alone: with "AND position IS NULL" H2 picks the position index and scans every NULL.
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + prefix + "store_event SET position = ?"
                + " WHERE id = ?")) {
            for (int i = 0; i < n; i++) {
                ps.setLong(1, head + 1 + i);
                ps.setLong(2, ids[i]);
                ps.addBatch();
            }
            int[] counts = ps.executeBatch();
            for (int count : counts) {
                if (count == 0) { // cannot happen: events are never deleted
                    throw new IllegalStateException("event store " + prefix + "store_event: an event vanished while"
                            + " it was given its position");
                }
            }
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + prefix + "store_head SET position = ? WHERE id = 1")) {
            ps.setLong(1, head + n);
            ps.executeUpdate();
        }
        return n;
    }

    // ---------------------------------------------------------------------------------------------------------
    // Read

    @Override
    public List<RecordedEvent<?>> read(String streamId, long fromVersion) {
        try (Connection c = dataSource.getConnection()) {
            return read(streamId, fromVersion, c);
        } catch (SQLException e) {
            throw failure("read stream '" + streamId + "'", e);
        }
    }

    /** {@link #read(String, long)} on the caller's connection (in its transaction, if any). */
    public List<RecordedEvent<?>> read(String streamId, long fromVersion, Connection connection) {
        try (PreparedStatement ps = connection.prepareStatement(readStream)) {
            ps.setString(1, streamId);
            ps.setLong(2, fromVersion);
            return rows(ps);
        } catch (SQLException e) {
            throw failure("read stream '" + streamId + "'", e);
        }
    }

    @Override
    public List<RecordedEvent<?>> readAll(long fromPosition, int max) {
        try (Connection c = dataSource.getConnection()) {
            return readAll(fromPosition, max, c);
        } catch (SQLException e) {
            throw failure("read from position " + fromPosition, e);
        }
    }

    /**
     * {@link #readAll(long, int)} on the caller's connection (in its transaction, if any). The sequencer runs
     * first, on a connection of its own.
     */
    public List<RecordedEvent<?>> readAll(long fromPosition, int max, Connection connection) {
        if (max < 1) {
            throw new IllegalArgumentException("max must be 1 or more, was " + max);
        }
        sequence(); // on a connection of its own: the head lock is never held in the caller's transaction
        try (PreparedStatement ps = connection.prepareStatement(readAll)) {
            ps.setLong(1, fromPosition);
            ps.setInt(2, max);
            return rows(ps);
        } catch (SQLException e) {
            throw failure("read from position " + fromPosition, e);
        }
    }

    private List<RecordedEvent<?>> rows(PreparedStatement ps) throws SQLException {
        List<RecordedEvent<?>> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
            while (rs.next()) {
                long position = rs.getLong(1);
                String stream = rs.getString(2);
                long version = rs.getLong(3);
                Map<String, String> headers = new LinkedHashMap<>(HeaderCodec.decode(rs.getString(7)));
                headers.put(MessageHeaders.ID, rs.getString(4));
                headers.put(MessageHeaders.TYPE, rs.getString(5));
                TransportMessage m = TransportMessage.of(rs.getString(6), stream, headers, rs.getBytes(8));
                Envelope<?> env = bus.decode(m);
                out.add(new RecordedEvent<>(stream, version, position, env));
            }
        }
        return out;
    }

    @Override
    public long headPosition() {
        try (Connection c = dataSource.getConnection()) {
            return headPosition(c);
        } catch (SQLException e) {
            throw failure("read the head position", e);
        }
    }

    long headPosition(Connection c) throws SQLException {
        sequence();
        try (PreparedStatement ps = c.prepareStatement("SELECT position FROM " + prefix + "store_head WHERE id = 1");
             ResultSet rs = ps.executeQuery()) {
            return rs.next() ? rs.getLong(1) : 0;
        }
    }

    @Override
    public long streamVersion(String streamId) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT version FROM " + prefix
                     + "store_stream WHERE stream_id = ?")) {
            ps.setString(1, streamId);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getLong(1) : 0;
            }
        } catch (SQLException e) {
            throw failure("read the version of stream '" + streamId + "'", e);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Snapshots

    @Override
    public void saveSnapshot(Snapshot<?> snapshot) {
        Objects.requireNonNull(snapshot, "snapshot");
        byte[] state = snapshotSerializer.serialize(snapshot.state());
        String type = snapshot.state().getClass().getName();
        try (Connection c = dataSource.getConnection()) {
            c.setAutoCommit(true);
            try (PreparedStatement ps = c.prepareStatement("UPDATE " + prefix + "store_snapshot SET version = ?,"
                    + " state_type = ?, state = ?, created_at = ? WHERE stream_id = ? AND version <= ?")) {
                ps.setLong(1, snapshot.version());
                ps.setString(2, type);
                ps.setBytes(3, state);
                ps.setLong(4, System.currentTimeMillis());
                ps.setString(5, snapshot.streamId());
                ps.setLong(6, snapshot.version());
                if (ps.executeUpdate() == 1) {
                    return;
                }
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + prefix + "store_snapshot"
                    + " (stream_id, version, state_type, state, created_at) VALUES (?, ?, ?, ?, ?)")) {
                ps.setString(1, snapshot.streamId());
                ps.setLong(2, snapshot.version());
                ps.setString(3, type);
                ps.setBytes(4, state);
                ps.setLong(5, System.currentTimeMillis());
                ps.executeUpdate();
            } catch (SQLException e) {
                if (!Jdbc.isDuplicate(e)) {
                    throw e;
                }
                // A newer snapshot exists (the UPDATE's condition failed) or one raced us in: either is fine.
            }
        } catch (SQLException e) {
            throw failure("save a snapshot of stream '" + snapshot.streamId() + "'", e);
        }
    }

    @Override
    public <S> Optional<Snapshot<S>> loadSnapshot(String streamId, Class<S> stateType) {
        try (Connection c = dataSource.getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT version, state_type, state FROM " + prefix
                     + "store_snapshot WHERE stream_id = ?")) {
            ps.setString(1, streamId);
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next() || !stateType.getName().equals(rs.getString(2))) {
                    return Optional.empty();
                }
                long version = rs.getLong(1);
                try {
                    return Optional.of(new Snapshot<>(streamId, version,
                            snapshotSerializer.deserialize(rs.getBytes(3), stateType, stateType.getName(), 1)));
                } catch (Serializer.SerializationException e) {
                    return Optional.empty(); // the state class changed: fold from the first event instead
                }
            }
        } catch (SQLException e) {
            throw failure("load the snapshot of stream '" + streamId + "'", e);
        }
    }

    // ---------------------------------------------------------------------------------------------------------

    static void requireTransaction(Connection connection) {
        Objects.requireNonNull(connection, "connection");
        boolean auto;
        try {
            auto = connection.getAutoCommit();
        } catch (SQLException e) {
            throw new EventBusException("cannot use the connection: " + e.getMessage(), e, Jdbc.isTransient(e));
        }
        if (auto) {
            throw new IllegalStateException("the connection passed to JdbcEventStore.append is in auto-commit mode, "
                    + "so the events would be committed on their own: call connection.setAutoCommit(false) and commit "
                    + "the append with the rest of your transaction");
        }
    }

    static void rollbackQuietly(Connection c) {
        try {
            c.rollback();
        } catch (SQLException ignored) {
            // the original failure is the one to report
        }
    }

    private EventBusException failure(String what, SQLException e) {
        return new EventBusException("event store (" + prefix + "store_*): cannot " + what + ": " + e.getMessage(), e,
                Jdbc.isTransient(e));
    }

    @Override
    public String toString() {
        return "JdbcEventStore{" + dialect + ", " + prefix + "store_*}";
    }

    /**
     * Builds a {@link JdbcEventStore}. Not thread-safe.
     */
    public static final class Builder {
        private final DataSource dataSource;
        private EventBus bus;
        private Outbox outbox;
        private JdbcDialect dialect;
        private String prefix = JdbcConfig.DEFAULT_TABLE_PREFIX;
        private SchemaMode schemaMode = SchemaMode.EMBEDDED;
        private boolean groupCommit = true;

        private Builder(DataSource dataSource) {
            this.dataSource = dataSource;
        }

        /** The bus that encodes appended events and decodes read ones (serializers, upcasters, event types). */
        public Builder bus(EventBus bus) {
            this.bus = Objects.requireNonNull(bus, "bus");
            return this;
        }

        /**
         * The outbox appended events are published through; by default one on the same data source and prefix,
         * built with this builder's schema mode.
         */
        public Builder outbox(Outbox outbox) {
            this.outbox = Objects.requireNonNull(outbox, "outbox");
            return this;
        }

        public Builder dialect(JdbcDialect dialect) {
            this.dialect = Objects.requireNonNull(dialect, "dialect");
            return this;
        }

        /** The prefix of the store's tables ({@code <prefix>store_event}, ...), default {@code eventbus_}. */
        public Builder tablePrefix(String prefix) {
            this.prefix = StoreSchema.validPrefix(prefix);
            return this;
        }

        /** Whether the tables are created: on H2 only by default ({@link SchemaMode#EMBEDDED}). */
        public Builder schemaMode(SchemaMode mode) {
            this.schemaMode = Objects.requireNonNull(mode, "mode");
            return this;
        }

        /**
         * Whether concurrent small {@link JdbcEventStore#append(String, ExpectedVersion, List) appends in the store's
         * own transaction} (up to 4 events each) share transactions and commits (on by default; see "Group commit" in
         * the class comment). Off: every such append commits alone. Appends in the caller's transaction, and larger
         * appends, are never grouped.
         */
        public Builder groupCommit(boolean on) {
            this.groupCommit = on;
            return this;
        }

        /**
         * Checks (or creates) the store's tables and the outbox's, and returns the store.
         *
         * @throws IllegalStateException when no bus was given
         * @throws EventBusException     when the database cannot be reached, or a table is missing (the message
         *                               carries the DDL)
         */
        public JdbcEventStore build() {
            if (bus == null) {
                throw new IllegalStateException("JdbcEventStore needs a bus to encode and decode events: "
                        + "JdbcEventStore.builder(dataSource).bus(bus)");
            }
            JdbcDialect d = dialect != null ? dialect : JdbcDialect.detect(dataSource);
            StoreSchema.ensure(dataSource, d, prefix, schemaMode);
            Outbox o = outbox != null ? outbox
                    : Outbox.builder(dataSource).bus(bus).dialect(d).tablePrefix(prefix).schemaMode(schemaMode).build();
            return new JdbcEventStore(this, d, o);
        }
    }
}
