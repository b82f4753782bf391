package dev.eventbus.micrometer.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.SQLException;
import java.time.Duration;

/**
 * The last result of a database query behind some gauges, run again on a gauge read when older than the interval,
 * so a scrape every few seconds does not become a query every few seconds per gauge. A failing query keeps the
 * previous result (NaN before the first success) and is logged once per failure streak. Thread-safe.
 *
 * @param <T> the result
 */
public final class PeriodicQuery<T> {

    private static final Logger log = LoggerFactory.getLogger(PeriodicQuery.class);

    /** The query: reads with the connection; must not keep it. */
    @FunctionalInterface
    public interface Query<T> {
        T run(Connection c) throws SQLException;
    }

    private final DataSource dataSource;
    private final Query<T> query;
    private final long intervalNanos;
    private final String what;
    private T last;
    private long at;
    private boolean failing;

    public PeriodicQuery(DataSource dataSource, Duration interval, String what, Query<T> query) {
        this.dataSource = dataSource;
        this.query = query;
        this.intervalNanos = interval.toNanos();
        this.what = what;
    }

    /** The latest result, refreshed first when stale; null when the query never succeeded. */
    public synchronized T get() {
        long now = System.nanoTime();
        if (last == null || now - at >= intervalNanos) {
            at = now;
            try (Connection c = dataSource.getConnection()) {
                last = query.run(c);
                failing = false;
            } catch (SQLException | RuntimeException e) {
                if (!failing) {
                    log.warn("cannot read {} for metrics (keeping the last value): {}", what, e.toString());
                }
                failing = true;
            }
        }
        return last;
    }
}
