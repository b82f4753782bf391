package dev.eventbus.jdbc;

import dev.eventbus.EventBusException;
import dev.eventbus.internal.Poller;
import dev.eventbus.jdbc.internal.Jdbc;
import dev.eventbus.store.ProjectionStatus;
import dev.eventbus.store.RecordedEvent;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs a {@link JdbcProjection} over a {@link JdbcEventStore}: reads events in global order in batches and, per
 * batch, applies them and moves the checkpoint ({@code <prefix>store_projection}) in one transaction. The
 * checkpoint row is locked for the batch, so any number of application instances may run the same projection: one
 * applies a batch at a time, and none applies an event twice.
 *
 * <p>{@link #rebuild()} replays every event from position 1 into a new generation of the read model while the
 * current one keeps serving and following the store, then, in one transaction under the checkpoint lock, applies
 * the last events, marks the new generation active and retires the old one. Readers find the active tables through
 * {@link #readModel()}. The generation retired by the previous rebuild is dropped ({@link JdbcProjection#dropReadModel})
 * at the end of a rebuild; the one just retired is kept, so a reader still holding it keeps working.
 *
 * <p>Run one rebuild of a projection at a time across all instances: a rebuild starts by dropping generations
 * left in the building state (by a rebuild that died).
 *
 * <p>Thread-safe. {@link #catchUp()} and {@link #rebuild()} block for their statements (a rebuild for the whole
 * replay). {@link #start} runs catch-ups on a daemon thread until {@link #close()}; closing does not close the
 * store or the data source.
 */
public final class JdbcProjector implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(JdbcProjector.class);
    private static final String ACTIVE = "active";
    private static final String BUILDING = "building";
    private static final String RETIRED = "retired";

    private final JdbcEventStore store;
    private final JdbcProjection projection;
    private final int batchSize;
    private final String table;
    private final AtomicBoolean rebuilding = new AtomicBoolean();
    private Poller poller;

    private JdbcProjector(JdbcEventStore store, JdbcProjection projection, int batchSize) {
        this.store = store;
        this.projection = projection;
        this.batchSize = batchSize;
        this.table = store.prefix() + "store_projection";
    }

    /** A builder for a projector of {@code projection} over {@code store}'s events, in {@code store}'s database. */
    public static Builder builder(JdbcEventStore store, JdbcProjection projection) {
        return new Builder(store, projection);
    }

    /** The generation readers should query now. */
    public JdbcProjection.ReadModel readModel() {
        try (Connection c = store.dataSource().getConnection();
             PreparedStatement ps = c.prepareStatement("SELECT generation FROM " + table
                     + " WHERE name = ? AND status = '" + ACTIVE + "'")) {
            ps.setString(1, projection.name());
            try (ResultSet rs = ps.executeQuery()) {
                if (!rs.next()) {
                    throw new IllegalStateException("projection '" + projection.name() + "' has no active generation");
                }
                return new JdbcProjection.ReadModel(projection.name(), rs.getInt(1));
            }
        } catch (SQLException e) {
            throw failure("find the active read model", e);
        }
    }

    /**
     * Applies every event after the active generation's checkpoint, batch by batch, until the store's head.
     *
     * @return how many events were applied
     * @throws EventBusException when the database fails or the projection throws (wrapped); the failed batch is
     *                           rolled back and the checkpoint stays before it
     */
    public long catchUp() {
        long total = 0;
        while (true) {
            int n = batch(ACTIVE, 0, false);
            total += n;
            if (n < batchSize) {
                return total;
            }
        }
    }

    /**
     * One transaction: lock the checkpoint of the generation in {@code status} (or {@code generation}), apply up to
     * one batch, move the checkpoint. With {@code switchOver}, apply until the head and make it the active one.
     */
    private int batch(String status, int generation, boolean switchOver) {
        try (Connection c = store.dataSource().getConnection()) {
            c.setAutoCommit(false);
            try {
                int gen;
                long position;
                if (switchOver) {
                    // The active row first, as a live catch-up locks it: one lock order, no deadlock.
                    try (PreparedStatement ps = c.prepareStatement("SELECT generation FROM " + table
                            + " WHERE name = ? AND status = '" + ACTIVE + "' FOR UPDATE")) {
                        ps.setString(1, projection.name());
                        ps.executeQuery().close();
                    }
                }
                try (PreparedStatement ps = c.prepareStatement(generation > 0
                        ? "SELECT generation, position FROM " + table + " WHERE name = ? AND generation = ? FOR UPDATE"
                        : "SELECT generation, position FROM " + table + " WHERE name = ? AND status = ? FOR UPDATE")) {
                    ps.setString(1, projection.name());
                    if (generation > 0) {
                        ps.setInt(2, generation);
                    } else {
                        ps.setString(2, status);
                    }
                    try (ResultSet rs = ps.executeQuery()) {
                        if (!rs.next()) {
                            c.rollback();
                            return 0;
                        }
                        gen = rs.getInt(1);
                        position = rs.getLong(2);
                    }
                }
                JdbcProjection.ReadModel model = new JdbcProjection.ReadModel(projection.name(), gen);
                int applied = 0;
                while (true) {
                    List<RecordedEvent<?>> events = store.readAll(position + 1, batchSize, c);
                    for (RecordedEvent<?> e : events) {
                        if (e.position() != position + 1) {
                            throw new IllegalStateException("projection '" + projection.name() + "' expected position "
                                    + (position + 1) + " but read " + e.position());
                        }
                        projection.apply(e, c, model);
                        position = e.position();
                        applied++;
                    }
                    if (!switchOver || events.size() < batchSize) {
                        break;
                    }
                }
                try (PreparedStatement ps = c.prepareStatement("UPDATE " + table + " SET position = ?, updated_at = ?"
                        + (switchOver ? ", status = '" + ACTIVE + "'" : "") + " WHERE name = ? AND generation = ?")) {
                    ps.setLong(1, position);
                    ps.setLong(2, System.currentTimeMillis());
                    ps.setString(3, projection.name());
                    ps.setInt(4, gen);
                    ps.executeUpdate();
                }
                if (switchOver) {
                    try (PreparedStatement ps = c.prepareStatement("UPDATE " + table + " SET status = '" + RETIRED
                            + "', updated_at = ? WHERE name = ? AND status = '" + ACTIVE + "' AND generation <> ?")) {
                        ps.setLong(1, System.currentTimeMillis());
                        ps.setString(2, projection.name());
                        ps.setInt(3, gen);
                        ps.executeUpdate();
                    }
                }
                c.commit();
                return applied;
            } catch (SQLException | RuntimeException e) {
                JdbcEventStore.rollbackQuietly(c);
                throw e;
            }
        } catch (SQLException e) {
            throw failure("apply a batch", e);
        }
    }

    /**
     * Replays every event into a fresh generation of the read model, then switches readers over to it once it has
     * caught up (see the class comment).
     *
     * @return the new active generation
     * @throws IllegalStateException when this projector is already rebuilding
     * @throws EventBusException     when the database or the projection fails; the half-built generation is
     *                               dropped by the next rebuild, the active one is untouched
     */
    public JdbcProjection.ReadModel rebuild() {
        if (!rebuilding.compareAndSet(false, true)) {
            throw new IllegalStateException("projection '" + projection.name() + "' is already rebuilding");
        }
        try {
            int gen;
            try (Connection c = store.dataSource().getConnection()) {
                c.setAutoCommit(true);
                for (int old : generations(c, BUILDING)) { // a rebuild that died half-way
                    drop(c, old);
                }
                gen = maxGeneration(c) + 1;
                if (!insertCheckpoint(c, gen, BUILDING)) { // the claim comes first: one builder per generation
                    throw new IllegalStateException("projection '" + projection.name() + "': another instance "
                            + "started a rebuild at the same time");
                }
                projection.createReadModel(c, new JdbcProjection.ReadModel(projection.name(), gen));
            }
            while (batch(BUILDING, gen, false) == batchSize) {
                // the bulk of the replay, while the active generation keeps serving
            }
            batch(BUILDING, gen, true);
            try (Connection c = store.dataSource().getConnection()) {
                c.setAutoCommit(true);
                List<Integer> retired = generations(c, RETIRED);
                for (int old : retired.subList(0, Math.max(0, retired.size() - 1))) {
                    drop(c, old);
                }
            }
            return new JdbcProjection.ReadModel(projection.name(), gen);
        } catch (SQLException e) {
            throw failure("rebuild", e);
        } finally {
            rebuilding.set(false);
        }
    }

    private List<Integer> generations(Connection c, String status) throws SQLException {
        List<Integer> out = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT generation FROM " + table
                + " WHERE name = ? AND status = ? ORDER BY generation")) {
            ps.setString(1, projection.name());
            ps.setString(2, status);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    out.add(rs.getInt(1));
                }
            }
        }
        return out;
    }

    private int maxGeneration(Connection c) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("SELECT MAX(generation) FROM " + table + " WHERE name = ?")) {
            ps.setString(1, projection.name());
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? rs.getInt(1) : 0;
            }
        }
    }

    private void drop(Connection c, int generation) throws SQLException {
        projection.dropReadModel(c, new JdbcProjection.ReadModel(projection.name(), generation));
        try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + table + " WHERE name = ? AND generation = ?")) {
            ps.setString(1, projection.name());
            ps.setInt(2, generation);
            ps.executeUpdate();
        }
    }

    private boolean insertCheckpoint(Connection c, int generation, String status) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table
                + " (name, generation, position, status, updated_at) VALUES (?, ?, 0, ?, ?)")) {
            ps.setString(1, projection.name());
            ps.setInt(2, generation);
            ps.setString(3, status);
            ps.setLong(4, System.currentTimeMillis());
            ps.executeUpdate();
            return true;
        } catch (SQLException e) {
            if (Jdbc.isDuplicate(e)) {
                return false;
            }
            throw e;
        }
    }

    /** The active generation's checkpoint, the store's head, and whether a rebuild is running (here or elsewhere). */
    public ProjectionStatus status() {
        try (Connection c = store.dataSource().getConnection()) {
            long position = 0;
            boolean building = false;
            try (PreparedStatement ps = c.prepareStatement("SELECT status, position FROM " + table + " WHERE name = ?")) {
                ps.setString(1, projection.name());
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        if (ACTIVE.equals(rs.getString(1))) {
                            position = rs.getLong(2);
                        } else if (BUILDING.equals(rs.getString(1))) {
                            building = true;
                        }
                    }
                }
            }
            return new ProjectionStatus(projection.name(), position, store.headPosition(c), building);
        } catch (SQLException e) {
            throw failure("read the status", e);
        }
    }

    /**
     * Catches up every {@code interval} on a daemon thread until {@link #close()}. A failure is logged and tried
     * again at the next interval.
     *
     * @throws IllegalStateException when already started
     */
    public synchronized JdbcProjector start(Duration interval) {
        if (poller != null) {
            throw new IllegalStateException("projector '" + projection.name() + "' is already started");
        }
        poller = new Poller("projector-" + projection.name(), interval, log, this::catchUp);
        return this;
    }

    /** Stops the background thread, waiting up to 10 s for a running batch; idempotent. */
    @Override
    public synchronized void close() {
        if (poller != null) {
            poller.close();
            poller = null;
        }
    }

    private EventBusException failure(String what, SQLException e) {
        return new EventBusException("projection '" + projection.name() + "': cannot " + what + ": " + e.getMessage(),
                e, Jdbc.isTransient(e));
    }

    @Override
    public String toString() {
        return "JdbcProjector{" + projection.name() + '}';
    }

    /** Builds a {@link JdbcProjector}. Not thread-safe. */
    public static final class Builder {
        private final JdbcEventStore store;
        private final JdbcProjection projection;
        private int batchSize = 500;

        private Builder(JdbcEventStore store, JdbcProjection projection) {
            this.store = Objects.requireNonNull(store, "store");
            this.projection = Objects.requireNonNull(projection, "projection");
            if (projection.name() == null || projection.name().isBlank() || projection.name().length() > 200) {
                throw new IllegalArgumentException("a projection's name must be 1 to 200 characters, was '"
                        + projection.name() + "'");
            }
        }

        /** Events per transaction (default 500). */
        public Builder batchSize(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("batchSize must be 1 or more, was " + n);
            }
            this.batchSize = n;
            return this;
        }

        /**
         * Creates generation 1 of the read model and its checkpoint when the projection is new, and returns the
         * projector (nothing runs until {@link #catchUp()} or {@link #start}).
         *
         * @throws EventBusException when the database fails
         */
        public JdbcProjector build() {
            JdbcProjector p = new JdbcProjector(store, projection, batchSize);
            try (Connection c = store.dataSource().getConnection()) {
                c.setAutoCommit(true);
                if (p.maxGeneration(c) == 0) {
                    projection.createReadModel(c, new JdbcProjection.ReadModel(projection.name(), 1));
                    p.insertCheckpoint(c, 1, ACTIVE); // a duplicate: another instance got there first
                }
            } catch (SQLException e) {
                throw p.failure("create its read model", e);
            }
            return p;
        }
    }
}
