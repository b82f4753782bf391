package dev.eventbus.jdbc;

import dev.eventbus.store.RecordedEvent;

import java.sql.Connection;
import java.sql.SQLException;

/**
 * A projection whose read model is tables in the event store's database. {@link JdbcProjector} calls
 * {@link #apply} with the connection of the transaction that also moves the projection's checkpoint, so each event
 * changes the read model exactly once, even across crashes and several application instances.
 *
 * <p>The read model is versioned by <em>generation</em>: a rebuild creates the tables of a new generation, replays
 * every event into them, then switches readers over. Name your tables through {@link ReadModel#table}:
 *
 * <pre>{@code
 * public void createReadModel(Connection c, ReadModel m) throws SQLException {
 *     try (Statement s = c.createStatement()) {
 *         s.execute("CREATE TABLE IF NOT EXISTS " + m.table("balance") + " (account VARCHAR(64) PRIMARY KEY, cents BIGINT)");
 *     }
 * }
 * }</pre>
 *
 * <p>{@link #apply} runs inside the projector's transaction: it must not commit, roll back, close the connection or
 * run DDL (MariaDB commits implicitly on DDL). It must be deterministic so a rebuild gives the same model. A throw
 * rolls the batch back and stops the projection at that event until the next try.
 */
public interface JdbcProjection {

    /** A unique, stable name (at most 200 characters); the checkpoint is stored under it. */
    String name();

    /** Creates the (empty) tables of {@code model}'s generation; runs in auto-commit mode. */
    void createReadModel(Connection connection, ReadModel model) throws SQLException;

    /** Applies one event to {@code model}'s tables, in the projector's transaction. */
    void apply(RecordedEvent<?> event, Connection connection, ReadModel model) throws SQLException;

    /**
     * Drops the tables of a generation no one reads any more (also of one whose rebuild died, so tables may be
     * missing: use {@code DROP TABLE IF EXISTS}); runs in auto-commit mode. Default: keeps them.
     */
    default void dropReadModel(Connection connection, ReadModel model) throws SQLException {
    }

    /**
     * One generation of a projection's read model.
     *
     * @param projection the projection's name
     * @param generation 1 for the first, one more for each rebuild
     */
    record ReadModel(String projection, int generation) {

        /** The physical name of a read-model table: {@code base + "_g" + generation}, e.g. {@code balance_g2}. */
        public String table(String base) {
            return base + "_g" + generation;
        }
    }
}
