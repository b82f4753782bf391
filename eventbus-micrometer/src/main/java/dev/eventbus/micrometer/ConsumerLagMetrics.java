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
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * Consumer lag, as the gauge {@value #LAG}: messages written but not yet consumed by a group.
 *
 * <ul>
 *   <li>{@link #jdbc}: the JDBC transport, per group and stream: the log rows after the group's cursors.</li>
 *   <li>{@link #kafka}: per group, topic and partition: the end offset minus the group's committed offset, read
 *       with an {@code Admin} client the application owns (needs {@code kafka-clients}). The transport's group id
 *       is the bus group's name; its topics are the streams with the configured topic prefix.</li>
 *   <li>{@link #rabbitmq}: the message count of the groups' queues (needs {@code amqp-client}). The transport
 *       names a group's queue {@code <prefix><stream>.<group>} (one queue per group when not sharded by key).</li>
 * </ul>
 *
 * <pre>{@code
 * ConsumerLagMetrics lag = ConsumerLagMetrics.jdbc(dataSource, "eventbus_", Duration.ofSeconds(10));
 * lag.bindTo(registry);          // close() it when done
 * }</pre>
 *
 * <p>The groups come and go, so the gauges are a {@link MultiGauge} refreshed by one daemon thread every
 * interval (one query per refresh). A failed refresh keeps the previous values and is logged.
 * {@link #refresh()} runs one at once (tests, or a scrape-driven setup).
 *
 * <p>Thread-safe. {@link #close()} stops the thread; the application owns the data source, admin client or
 * connection factory.
 */
public final class ConsumerLagMetrics implements MeterBinder, AutoCloseable {

    /** Messages not yet consumed by a group (OTel-style tags: system, group, destination, partition). */
    public static final String LAG = "eventbus.consumer.lag";

    private static final Logger log = LoggerFactory.getLogger(ConsumerLagMetrics.class);
    private static final Pattern PREFIX = Pattern.compile("[A-Za-z0-9_]*");

    /** One refresh's rows: tags and value. */
    @FunctionalInterface
    interface Source {
        List<MultiGauge.Row<?>> read() throws Exception;
    }

    private final Source source;
    private final String threadName;
    private final Duration interval;
    private final List<MultiGauge> gauges = new java.util.concurrent.CopyOnWriteArrayList<>();
    private ScheduledExecutorService scheduler;
    private boolean failing;

    private ConsumerLagMetrics(Source source, String system, Duration interval) {
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("interval must be positive, was " + interval);
        }
        this.source = source;
        this.threadName = "eventbus-metrics-" + system + "-lag";
        this.interval = interval;
    }

    static MultiGauge.Row<?> row(String system, String group, String destination, String partition, long lag) {
        return MultiGauge.Row.of(Tags.of(EventBusMetrics.TAG_SYSTEM, system, EventBusMetrics.TAG_GROUP, group,
                EventBusMetrics.TAG_DESTINATION, destination, "messaging.destination.partition.id", partition), lag);
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
        String sql = "SELECT c.group_name, c.stream, COUNT(l.seq) FROM " + tablePrefix + "cursor c LEFT JOIN "
                + tablePrefix + "log l ON l.stream = c.stream AND l.partition_no = c.partition_no"
                + " AND l.seq > c.position GROUP BY c.group_name, c.stream";
        return new ConsumerLagMetrics(() -> {
            List<MultiGauge.Row<?>> rows = new ArrayList<>();
            try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
                ps.setQueryTimeout(10);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        rows.add(row("jdbc", rs.getString(1), rs.getString(2), "all", rs.getLong(3)));
                    }
                }
            }
            return rows;
        }, "jdbc", interval);
    }

    /**
     * Lag of the Kafka consumer groups {@code groups} on every partition they committed offsets for, read with
     * {@code admin} every {@code interval}.
     */
    public static ConsumerLagMetrics kafka(org.apache.kafka.clients.admin.Admin admin,
                                           java.util.Collection<String> groups, Duration interval) {
        Objects.requireNonNull(admin, "admin");
        List<String> gs = List.copyOf(groups);
        if (gs.isEmpty()) {
            throw new IllegalArgumentException("groups must name at least one consumer group");
        }
        return new ConsumerLagMetrics(() -> KafkaLag.read(admin, gs), "kafka", Objects.requireNonNull(interval,
                "interval"));
    }

    /**
     * Depth (ready messages) of RabbitMQ queues, read every {@code interval} on a connection from {@code factory}
     * opened per refresh.
     *
     * @param queues queue name -> the consumer group that reads it
     */
    public static ConsumerLagMetrics rabbitmq(com.rabbitmq.client.ConnectionFactory factory,
                                              java.util.Map<String, String> queues, Duration interval) {
        Objects.requireNonNull(factory, "factory");
        java.util.Map<String, String> qs = java.util.Map.copyOf(queues);
        if (qs.isEmpty()) {
            throw new IllegalArgumentException("queues must name at least one queue");
        }
        return new ConsumerLagMetrics(() -> RabbitMqDepth.read(factory, qs), "rabbitmq",
                Objects.requireNonNull(interval, "interval"));
    }

    @Override
    public synchronized void bindTo(MeterRegistry registry) {
        gauges.add(MultiGauge.builder(LAG).description("messages written but not yet consumed by the group")
                .baseUnit("messages").register(registry));
        refresh();
        if (scheduler == null) {
            scheduler = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, threadName);
                t.setDaemon(true);
                return t;
            });
            long ms = interval.toMillis();
            scheduler.scheduleWithFixedDelay(this::refresh, ms, ms, TimeUnit.MILLISECONDS);
        }
    }

    /** Queries the lag now and updates the gauges. Blocks for the query. */
    public synchronized void refresh() {
        List<MultiGauge.Row<?>> rows;
        try {
            rows = source.read();
            failing = false;
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
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
