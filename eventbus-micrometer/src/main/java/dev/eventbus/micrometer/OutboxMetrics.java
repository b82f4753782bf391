package dev.eventbus.micrometer;

import dev.eventbus.jdbc.JdbcConfig;
import dev.eventbus.jdbc.OutboxRelay;
import dev.eventbus.micrometer.internal.PeriodicQuery;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;

import javax.sql.DataSource;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.Objects;
import java.util.function.ToDoubleFunction;
import java.util.regex.Pattern;

/**
 * Micrometer meters for a transactional outbox: what its relay sent, and the backlog (rows not yet published)
 * with the age of its oldest row, read from the outbox table.
 *
 * <pre>{@code
 * OutboxMetrics.bind(relay, dataSource, "eventbus_", registry);
 * }</pre>
 *
 * <p>The relay's counts are function counters over {@link OutboxRelay#stats()}. The backlog gauges run one
 * {@code SELECT COUNT(*), MIN(created_at)} over the pending and failed rows (an index range on every dialect) at
 * most once per {@code refresh} interval (default 10 s), on the thread that reads the gauge; a failed query keeps
 * the last values and is logged. Either part may be left out: a relay without a data source gives counters only,
 * {@link #backlog} without a relay gives the gauges only (for an application that writes the outbox but runs its
 * relay elsewhere).
 *
 * <p>Thread-safe. Holds no connection between reads; closes nothing.
 */
public final class OutboxMetrics implements MeterBinder {

    /** Rows relayed to the transport. */
    public static final String RELAYED = "eventbus.outbox.relayed";
    /** Send attempts that failed (the row is retried with backoff). */
    public static final String FAILED = "eventbus.outbox.failed";
    /** Rows given up after the relay's max attempts. */
    public static final String ABANDONED = "eventbus.outbox.abandoned";
    /** Times the relay lost its database or transport. */
    public static final String OUTAGES = "eventbus.outbox.outages";
    /** Rows waiting to be relayed (pending or failed). */
    public static final String BACKLOG = "eventbus.outbox.backlog";
    /** Age of the oldest row waiting to be relayed; 0 when none waits. */
    public static final String OLDEST_AGE = "eventbus.outbox.oldest.age";

    private static final Pattern PREFIX = Pattern.compile("[A-Za-z0-9_]*");

    private final OutboxRelay relay;
    private final PeriodicQuery<long[]> backlog;
    private final Tags tags;

    private OutboxMetrics(OutboxRelay relay, DataSource dataSource, String tablePrefix, Duration refresh) {
        this.relay = relay;
        if (dataSource != null) {
            if (tablePrefix == null || !PREFIX.matcher(tablePrefix).matches()) {
                throw new IllegalArgumentException("tablePrefix must be letters, digits and underscores (like "
                        + JdbcConfig.TABLE_PREFIX + "), was '" + tablePrefix + "'");
            }
            String sql = "SELECT COUNT(*), MIN(created_at) FROM " + tablePrefix
                    + "outbox WHERE status IN ('pending', 'failed')";
            this.backlog = new PeriodicQuery<>(dataSource, refresh, "the outbox backlog of " + tablePrefix + "outbox",
                    c -> {
                        try (PreparedStatement ps = c.prepareStatement(sql)) {
                            ps.setQueryTimeout(5);
                            try (ResultSet rs = ps.executeQuery()) {
                                rs.next();
                                long count = rs.getLong(1);
                                long oldest = rs.getLong(2);
                                return new long[] {count, rs.wasNull() ? 0 : oldest};
                            }
                        }
                    });
        } else {
            this.backlog = null;
        }
        this.tags = Tags.of("eventbus.outbox", tablePrefix == null ? JdbcConfig.DEFAULT_TABLE_PREFIX : tablePrefix);
    }

    /** Counters of {@code relay} and the backlog of the outbox at {@code dataSource} with {@code tablePrefix}. */
    public static OutboxMetrics of(OutboxRelay relay, DataSource dataSource, String tablePrefix) {
        return new OutboxMetrics(Objects.requireNonNull(relay, "relay"), Objects.requireNonNull(dataSource,
                "dataSource"), tablePrefix, Duration.ofSeconds(10));
    }

    /** Counters of {@code relay} only. */
    public static OutboxMetrics of(OutboxRelay relay) {
        return new OutboxMetrics(Objects.requireNonNull(relay, "relay"), null, null, Duration.ofSeconds(10));
    }

    /** Backlog gauges only, refreshed at most every {@code refresh}. */
    public static OutboxMetrics backlog(DataSource dataSource, String tablePrefix, Duration refresh) {
        return new OutboxMetrics(null, Objects.requireNonNull(dataSource, "dataSource"), tablePrefix,
                Objects.requireNonNull(refresh, "refresh"));
    }

    /** Binds {@link #of(OutboxRelay, DataSource, String)} to {@code registry}: the one line. */
    public static OutboxMetrics bind(OutboxRelay relay, DataSource dataSource, String tablePrefix,
                                     MeterRegistry registry) {
        OutboxMetrics m = of(relay, dataSource, tablePrefix);
        m.bindTo(registry);
        return m;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        if (relay != null) {
            Tags t = tags.and("eventbus.relay", relay.relayId());
            counter(registry, RELAYED, "rows relayed to the transport", OutboxRelay.Stats::published, t);
            counter(registry, FAILED, "relay send attempts that failed", OutboxRelay.Stats::failed, t);
            counter(registry, ABANDONED, "rows given up after the relay's max attempts", OutboxRelay.Stats::abandoned,
                    t);
            counter(registry, OUTAGES, "times the relay lost its database or transport", OutboxRelay.Stats::outages,
                    t);
        }
        if (backlog != null) {
            // Strong references: Micrometer holds a gauge's object weakly, and the one-line bind keeps none.
            Gauge.builder(BACKLOG, backlog, q -> value(q, 0)).strongReference(true)
                    .description("outbox rows waiting to be relayed").tags(tags).baseUnit("rows").register(registry);
            Gauge.builder(OLDEST_AGE, backlog, q -> {
                double oldest = value(q, 1);
                return Double.isNaN(oldest) || oldest == 0 ? oldest
                        : Math.max(0, System.currentTimeMillis() - oldest) / 1000.0;
            }).strongReference(true).description("age of the oldest outbox row waiting to be relayed").tags(tags)
                    .baseUnit("seconds").register(registry);
        }
    }

    private static double value(PeriodicQuery<long[]> q, int i) {
        long[] v = q.get();
        return v == null ? Double.NaN : v[i];
    }

    private void counter(MeterRegistry registry, String name, String description,
                         ToDoubleFunction<OutboxRelay.Stats> f, Tags t) {
        FunctionCounter.builder(name, relay, r -> f.applyAsDouble(r.stats())).description(description).tags(t)
                .register(registry);
    }
}
