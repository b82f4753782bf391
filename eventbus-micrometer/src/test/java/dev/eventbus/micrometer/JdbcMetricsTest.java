package dev.eventbus.micrometer;

import dev.eventbus.Event;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.jdbc.Inbox;
import dev.eventbus.jdbc.JdbcTransport;
import dev.eventbus.jdbc.Outbox;
import dev.eventbus.jdbc.OutboxRelay;
import dev.eventbus.jdbc.SchemaMode;
import dev.eventbus.spi.Transport;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.h2.jdbcx.JdbcDataSource;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

class JdbcMetricsTest {

    @EventType(name = "metrics.parcel", stream = "metrics-parcels")
    record Parcel(String id) implements Event {
        @Override
        public String eventId() {
            return "parcel-" + id; // its own id: a second publish is a duplicate for the inbox
        }
    }

    private static JdbcDataSource h2(String name) {
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL("jdbc:h2:mem:" + name + "-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1");
        return ds;
    }

    private static JdbcTransport transport(JdbcDataSource ds, String prefix) {
        return JdbcTransport.builder(ds).tablePrefix(prefix).schemaMode(SchemaMode.ALWAYS).partitions(4)
                .pollInterval(Duration.ofMillis(20)).lease(Duration.ofSeconds(5), Duration.ofMillis(100))
                .commitInterval(Duration.ofMillis(10)).build();
    }

    @Test
    void consumerLagIsPositiveWhileTheConsumerIsStoppedAndZeroAfterItDrains() throws Exception {
        JdbcDataSource ds = h2("lag");
        String prefix = "lag_";
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        List<Parcel> got = new CopyOnWriteArrayList<>();
        try (ConsumerLagMetrics lag = ConsumerLagMetrics.jdbc(ds, prefix, Duration.ofHours(1))) {
            // The group reads once, so its cursors exist, then stops.
            try (EventBus consumer = EventBus.builder().service("lag-consumer").transport(transport(ds, prefix))
                    .build()) {
                consumer.subscribe(Parcel.class, "lag-group", got::add);
                try (EventBus producer = EventBus.builder().service("lag-producer").transport(transport(ds, prefix))
                        .build()) {
                    producer.publish(new Parcel("warm-up")).join();
                    await(() -> got.size() == 1);
                }
                Thread.sleep(100); // let the cursor commit
            }
            try (EventBus producer = EventBus.builder().service("lag-producer").transport(transport(ds, prefix))
                    .build()) {
                for (int i = 0; i < 5; i++) {
                    producer.publish(new Parcel("p-" + i)).join();
                }
            }
            lag.bindTo(registry);
            assertThat(lagOf(registry, "lag-group")).isEqualTo(5);

            try (EventBus consumer = EventBus.builder().service("lag-consumer").transport(transport(ds, prefix))
                    .build()) {
                consumer.subscribe(Parcel.class, "lag-group", got::add);
                await(() -> got.size() == 6);
                await(() -> {
                    lag.refresh();
                    return lagOf(registry, "lag-group") == 0;
                });
            }
            assertThat(lagOf(registry, "lag-group")).isZero();
        }
    }

    private static double lagOf(SimpleMeterRegistry registry, String group) {
        Gauge g = registry.get(ConsumerLagMetrics.LAG).tag("messaging.consumer.group.name", group)
                .tag("messaging.destination.name", "metrics-parcels").tag("messaging.system", "jdbc").gauge();
        return g.value();
    }

    @Test
    void outboxBacklogAndAgeThenRelayedCountsAndInboxDuplicates() throws Exception {
        JdbcDataSource ds = h2("outbox");
        String prefix = "obx_";
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Transport target = transport(ds, prefix);
        Inbox inbox = Inbox.builder(ds).tablePrefix(prefix).schemaMode(SchemaMode.ALWAYS).build();
        List<Parcel> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.builder().service("outbox-app").transport(target).consumeInterceptor(inbox)
                .build()) {
            bus.subscribe(Parcel.class, "outbox-group", got::add);
            EventBusMetrics.bind(bus, registry);
            InboxMetrics.bind(inbox, "outbox-app", registry);
            Outbox outbox = Outbox.builder(ds).bus(bus).tablePrefix(prefix).schemaMode(SchemaMode.ALWAYS).build();
            OutboxMetrics.backlog(ds, prefix, Duration.ofMillis(1)).bindTo(registry);
            try (Connection c = ds.getConnection()) {
                c.setAutoCommit(false);
                outbox.publish(new Parcel("a"), c);
                outbox.publish(new Parcel("b"), c);
                outbox.publish(new Parcel("a"), c); // the same event id twice: the inbox keeps one
                c.commit();
            }
            Thread.sleep(20);
            assertThat(registry.get(OutboxMetrics.BACKLOG).gauge().value()).isEqualTo(3);
            assertThat(registry.get(OutboxMetrics.OLDEST_AGE).gauge().value()).isGreaterThanOrEqualTo(0.015)
                    .isLessThan(60);

            try (OutboxRelay relay = OutboxRelay.builder(ds, target).tablePrefix(prefix)
                    .schemaMode(SchemaMode.ALWAYS).pollInterval(Duration.ofMillis(20)).build()) {
                OutboxMetrics.of(relay).bindTo(registry);
                await(() -> registry.get(OutboxMetrics.BACKLOG).gauge().value() == 0);
                await(() -> registry.get(OutboxMetrics.RELAYED).functionCounter().count() == 3);
                await(() -> registry.get(InboxMetrics.DUPLICATES).functionCounter().count() == 1);
                assertThat(registry.get(OutboxMetrics.OLDEST_AGE).gauge().value()).isZero();
                assertThat(registry.get(InboxMetrics.HANDLED).functionCounter().count()).isEqualTo(2);
                assertThat(got).extracting(Parcel::id).containsExactlyInAnyOrder("a", "b");
                // Deliveries over the JDBC transport are timed with its name.
                assertThat(registry.get(EventBusMetrics.PROCESS_DURATION).tag("messaging.system", "jdbc")
                        .tag("outcome", "ack").timer().count()).isEqualTo(3);
            }
        } finally {
            inbox.close();
        }
    }

    private static void await(BooleanSupplier condition) {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 20 s");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError(e);
            }
        }
    }
}
