package dev.eventbus.micrometer;

import dev.eventbus.jdbc.JdbcConfig;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Consumer lag of the JDBC transport: per consumer group and stream, the log rows after the group's cursors
 * (messages written but not yet consumed), as the gauge {@value #LAG}.
 *
 * <pre>{@code
 * ConsumerLagMetrics lag = ConsumerLagMetrics.jdbc(dataSource, "eventbus_", Duration.ofSeconds(10));
 * lag.bindTo(registry);          // close() it when done
 * }</pre>
 *
 * <p>The groups come and go, so the gauges are a {@link MultiGauge} refreshed by one daemon thread every
 * interval with one {@code GROUP BY} query over the cursor and log tables. A failed query keeps the previous
 * values and is logged. {@link #refresh()} runs one at once (tests, or a scrape-driven setup).
 *
 * <p>Thread-safe. {@link #close()} stops the thread; the application owns the data source.
 */
public final class ConsumerLagMetrics implements MeterBinder, AutoCloseable {

    /** Messages not yet consumed by a group (OTel-style tags: system, group, destination, partition). */
    public static final String LAG = "eventbus.consumer.lag";

    private static final Logger log = LoggerFactory.getLogger(ConsumerLagMetrics.class);
    private static final Pattern PREFIX = Pattern.compile("[A-Za-z0-9_]*");

    private final DataSource dataSource;
    private final String sql;
    private final Duration interval;
    private final List<MultiGauge> gauges = new java.util.concurrent.CopyOnWriteArrayList<>();
    private ScheduledExecutorService scheduler;
    private boolean failing;

    private ConsumerLagMetrics(DataSource dataSource, String prefix, Duration interval) {
        this.dataSource = dataSource;
        this.interval = interval;
        this.sql = "SELECT c.group_name, c.stream, COUNT(l.seq) FROM " + prefix + "cursor c LEFT JOIN " + prefix
                + "log l ON l.stream = c.stream AND l.partition_no = c.partition_no AND l.seq > c.position"
                + " GROUP BY c.group_name, c.stream";
    }

    /**
     * Lag of every group reading the JDBC transport's log at {@code dataSource} (tables prefixed
     * {@code tablePrefix}), refreshed every {@code interval}.
     *
     * @throws IllegalArgumentException if the prefix is not letters, digits and underscores
     */
    public static ConsumerLagMetrics jdbc(DataSource dataSource, String tablePrefix, Duration interval) {
        Objects.requireNonNull(dataSource, "dataSource");
        Objects.requireNonNull(interval, "interval");
        if (tablePrefix == null || !PREFIX.matcher(tablePrefix).matches()) {
            throw new IllegalArgumentException("tablePrefix must be letters, digits and underscores (like "
                    + JdbcConfig.TABLE_PREFIX + "), was '" + tablePrefix + "'");
        }
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("interval must be positive, was " + interval);
        }
        return new ConsumerLagMetrics(dataSource, tablePrefix, interval);
    }

    @Override
    public synchronized void bindTo(MeterRegistry registry) {
        gauges.add(MultiGauge.builder(LAG).description("messages written but not yet consumed by the group")
                .baseUnit("messages").register(registry));
        refresh();
        if (scheduler == null) {
            scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "eventbus-metrics-jdbc-lag");
                t.setDaemon(true);
                return t;
            });
            long ms = interval.toMillis();
            scheduler.scheduleWithFixedDelay(this::refresh, ms, ms, TimeUnit.MILLISECONDS);
        }
    }

    /** Queries the lag now and updates the gauges. Blocks for the query. */
    public synchronized void refresh() {
        List<MultiGauge.Row<?>> rows = new ArrayList<>();
        try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
            ps.setQueryTimeout(10);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    rows.add(MultiGauge.Row.of(Tags.of(EventBusMetrics.TAG_SYSTEM, "jdbc",
                            EventBusMetrics.TAG_GROUP, rs.getString(1), EventBusMetrics.TAG_DESTINATION,
                            rs.getString(2), "messaging.destination.partition.id", "all"), rs.getLong(3)));
                }
            }
            failing = false;
        } catch (SQLException | RuntimeException e) {
            if (!failing) {
                log.warn("cannot read the consumer lag for metrics (keeping the last values): {}", e.toString());
            }
            failing = true;
            return;
        }
        for (MultiGauge g : gauges) {
            g.register(rows, true);
        }
    }

    @Override
    public synchronized void close() {
        if (scheduler != null) {
            scheduler.shutdownNow();
            scheduler = null;
        }
    }
}
