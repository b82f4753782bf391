package dev.eventbus.spring.internal;

import dev.eventbus.jdbc.OutboxRelay;
import dev.eventbus.micrometer.OutboxMetrics;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import javax.sql.DataSource;

/**
 * Binds the outbox's meters ({@link OutboxMetrics}): with the starter's relay, its counters and the backlog gauges
 * each time the relay starts (it is built in the relay lifecycle's start, after Spring bound its MeterBinders; the
 * counters are removed when it stops); without a relay, the backlog gauges at once.
 *
 * <p>Thread-safe.
 */
public final class OutboxRelayMeters implements MeterBinder {

    private final RelayLifecycle relay;
    private final DataSource dataSource;
    private final String tablePrefix;
    private final List<MeterRegistry> registries = new CopyOnWriteArrayList<>();

    /**
     * @param relay      the starter's relay, or null (backlog only)
     * @param dataSource the outbox's database, or null (relay counters only)
     */
    public OutboxRelayMeters(RelayLifecycle relay, DataSource dataSource, String tablePrefix) {
        this.relay = relay;
        this.dataSource = dataSource;
        this.tablePrefix = tablePrefix;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        if (relay == null) {
            if (dataSource != null) {
                OutboxMetrics.backlog(dataSource, tablePrefix, Duration.ofSeconds(10)).bindTo(registry);
            }
            return;
        }
        boolean first = registries.isEmpty();
        registries.add(registry);
        if (first) {
            relay.listen(this::started, this::stopped);
        } else if (relay.relay() != null) {
            of(relay.relay()).bindTo(registry);
        }
    }

    // Counters and backlog together, so both carry the outbox's table prefix as their eventbus.outbox tag.
    private OutboxMetrics of(OutboxRelay r) {
        return dataSource == null ? OutboxMetrics.of(r) : OutboxMetrics.of(r, dataSource, tablePrefix);
    }

    private void started(OutboxRelay r) {
        for (MeterRegistry registry : registries) {
            of(r).bindTo(registry);
        }
    }

    private void stopped(OutboxRelay r) {
        for (MeterRegistry registry : registries) {
            for (Meter m : registry.getMeters()) {
                if (r.relayId().equals(m.getId().getTag("eventbus.relay"))) {
                    registry.remove(m);
                }
            }
        }
    }
}
