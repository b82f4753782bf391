package dev.eventbus.spring;

import dev.eventbus.EventBus;
import dev.eventbus.micrometer.EventBusMetrics;
import dev.eventbus.micrometer.InboxMetrics;
import dev.eventbus.micrometer.OutboxMetrics;
import dev.eventbus.spring.TestSupport.Inventory;
import dev.eventbus.spring.TestSupport.OrderPlaced;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.micrometer.metrics.autoconfigure.CompositeMeterRegistryAutoConfiguration;
import org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration;
import org.springframework.boot.micrometer.metrics.autoconfigure.export.simple.SimpleMetricsExportAutoConfiguration;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.transaction.support.TransactionTemplate;

import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Micrometer binding: with Boot's actuator metrics (a {@link SimpleMeterRegistry}) the bus's, the outbox relay's
 * and the inbox's meters count what happened; without eventbus-micrometer the starter still starts.
 */
class MetricsTest {

    static final AutoConfigurations METRICS = AutoConfigurations.of(MetricsAutoConfiguration.class,
            CompositeMeterRegistryAutoConfiguration.class, SimpleMetricsExportAutoConfiguration.class,
            EventBusMetricsAutoConfiguration.class);


    static double count(MeterRegistry registry, String name) {
        FunctionCounter c = registry.find(name).functionCounter();
        return c == null ? -1 : c.count();
    }

    @Test
    void theBussMetersCountWhatWasPublishedAndDelivered() {
        String service = TestSupport.unique("mtr");
        TestSupport.busOnly().withConfiguration(METRICS).withBean(Inventory.class)
                .withPropertyValues("eventbus.service=" + service).run(context -> {
                    assertThat(context).hasNotFailed().hasSingleBean(EventBusMetrics.class);
                    MeterRegistry registry = context.getBean(MeterRegistry.class);
                    assertThat(registry).isInstanceOf(SimpleMeterRegistry.class);
                    EventBus bus = context.getBean(EventBus.class);
                    int n = 7;
                    for (int i = 0; i < n; i++) {
                        bus.publish(new OrderPlaced("m-" + i, i)).join();
                    }
                    TestSupport.await("7 deliveries", Duration.ofSeconds(10),
                            () -> context.getBean(Inventory.class).seen.size() == n);
                    FunctionCounter published = registry.find(EventBusMetrics.PUBLISHED)
                            .tag("eventbus.service", service).functionCounter();
                    assertThat(published).as("eventbus.published bound to the registry").isNotNull();
                    assertThat(published.count()).isEqualTo(n);
                    // The counters are cached 20 ms; wait past that for the deliveries' count.
                    TestSupport.await("eventbus.delivered = 7", Duration.ofSeconds(5),
                            () -> count(registry, EventBusMetrics.DELIVERED) == n);
                    assertThat(count(registry, EventBusMetrics.FAILURES)).isZero();
                    assertThat(count(registry, EventBusMetrics.DEAD_EVENTS)).isZero();
                });
    }

    @Test
    void theOutboxRelayAndTheInboxAreMeteredWhenTheStarterRunsThem() {
        String prefix = TestSupport.unique("mtj");
        TestSupport.withJdbc().withConfiguration(METRICS).withBean(Inventory.class)
                .withPropertyValues("spring.datasource.url=" + TestSupport.h2Url(prefix), "spring.datasource.username=sa",
                        "eventbus.jdbc.table-prefix=" + prefix, "eventbus.jdbc.create-schema=always",
                        "eventbus.jdbc.outbox.poll-interval=100ms", "eventbus.spring.inbox.enabled=true",
                        "eventbus.service=" + prefix)
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    MeterRegistry registry = context.getBean(MeterRegistry.class);
                    TransactionalOutbox outbox = context.getBean(TransactionalOutbox.class);
                    TransactionTemplate tx = context.getBean(TransactionTemplate.class);
                    int n = 3;
                    tx.executeWithoutResult(s -> {
                        for (int i = 0; i < n; i++) {
                            outbox.publish(new OrderPlaced("r-" + i, i));
                        }
                    });
                    Inventory inventory = context.getBean(Inventory.class);
                    TestSupport.await("3 relayed deliveries", Duration.ofSeconds(30), () -> inventory.seen.size() == n);
                    TestSupport.await("eventbus.outbox.relayed = 3", Duration.ofSeconds(10),
                            () -> count(registry, OutboxMetrics.RELAYED) == n);
                    assertThat(registry.find(OutboxMetrics.RELAYED).tag("eventbus.outbox", prefix).functionCounter())
                            .isNotNull();
                    assertThat(count(registry, OutboxMetrics.ABANDONED)).isZero();
                    assertThat(registry.find(OutboxMetrics.BACKLOG).tag("eventbus.outbox", prefix).gauge()).isNotNull();
                    TestSupport.await("eventbus.inbox.handled = 3", Duration.ofSeconds(10),
                            () -> count(registry, InboxMetrics.HANDLED) == n);
                    assertThat(registry.find(InboxMetrics.HANDLED).tag("eventbus.inbox", prefix).functionCounter())
                            .isNotNull();
                    assertThat(count(registry, InboxMetrics.DUPLICATES)).isZero();
                    // The relay sends to the transport directly (not through publish); the bus counts the deliveries.
                    TestSupport.await("eventbus.delivered = 3", Duration.ofSeconds(5),
                            () -> count(registry, EventBusMetrics.DELIVERED) == n);
                    assertThat(count(registry, EventBusMetrics.PUBLISHED)).isZero();
                });
    }

    @Test
    void withoutEventbusMicrometerTheStarterStillStarts() {
        TestSupport.busOnly().withConfiguration(METRICS).withBean(Inventory.class)
                .withClassLoader(new FilteredClassLoader(EventBusMetrics.class)).run(context -> {
                    assertThat(context).hasNotFailed().hasSingleBean(EventBus.class)
                            .doesNotHaveBean(EventBusMetrics.class).hasSingleBean(MeterRegistry.class);
                    context.getBean(EventBus.class).publish(new OrderPlaced("f-1", 1)).join();
                    TestSupport.await("delivery", Duration.ofSeconds(10),
                            () -> context.getBean(Inventory.class).count("f-1") == 1);
                    assertThat(context.getBean(MeterRegistry.class).find(EventBusMetrics.PUBLISHED).meters()).isEmpty();
                });
    }

    @Test
    void withoutAMeterRegistryOrWhenSwitchedOffNothingIsBound() {
        TestSupport.busOnly().withConfiguration(AutoConfigurations.of(EventBusMetricsAutoConfiguration.class))
                .run(context -> assertThat(context).hasNotFailed().hasSingleBean(EventBus.class)
                        .doesNotHaveBean(EventBusMetrics.class));
        TestSupport.busOnly().withConfiguration(METRICS).withPropertyValues("eventbus.spring.metrics.enabled=false")
                .run(context -> {
                    assertThat(context).hasNotFailed().doesNotHaveBean(EventBusMetrics.class);
                    assertThat(context.getBean(MeterRegistry.class).find(EventBusMetrics.PUBLISHED).meters()).isEmpty();
                });
    }
}
