package dev.eventbus.spring;

import dev.eventbus.EventBus;
import dev.eventbus.jdbc.JdbcConfig;
import dev.eventbus.micrometer.EventBusMetrics;
import dev.eventbus.micrometer.InboxMetrics;
import dev.eventbus.spring.internal.EventBusSettings;
import dev.eventbus.spring.internal.OutboxRelayMeters;
import dev.eventbus.spring.internal.RelayLifecycle;
import dev.eventbus.spring.internal.SpringInbox;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.Environment;

import javax.sql.DataSource;

/**
 * Micrometer meters when {@code eventbus-micrometer} is on the classpath and the application has a
 * {@link MeterRegistry} (Spring Boot's actuator metrics): {@link EventBusMetrics} for the bus, and, when the starter
 * created them, {@code OutboxMetrics} for the outbox relay and its backlog and {@link InboxMetrics} for the inbox.
 * They are {@code MeterBinder} beans, so Spring Boot binds them to every registry. Off with
 * {@code eventbus.spring.metrics.enabled=false}; define an {@code EventBusMetrics} bean of your own to replace the
 * bus's (extra tags).
 *
 * <p>Lifecycle: the bus's binder detaches its observer when the context closes; the relay's counters follow the
 * relay (bound when it starts, removed when it stops).
 */
@AutoConfiguration(after = EventBusAutoConfiguration.class, afterName = {
        "org.springframework.boot.micrometer.metrics.autoconfigure.MetricsAutoConfiguration",
        "org.springframework.boot.micrometer.metrics.autoconfigure.CompositeMeterRegistryAutoConfiguration",
        "org.springframework.boot.micrometer.metrics.autoconfigure.export.simple.SimpleMetricsExportAutoConfiguration"})
@ConditionalOnClass({EventBus.class, EventBusMetrics.class, MeterRegistry.class})
@ConditionalOnBean({EventBus.class, MeterRegistry.class})
@ConditionalOnBooleanProperty(name = "eventbus.spring.metrics.enabled", matchIfMissing = true)
public class EventBusMetricsAutoConfiguration {

    /** The bus's meters (a {@code MeterBinder}); closing it detaches its observer from the bus. */
    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public EventBusMetrics eventBusMetrics(EventBus bus) {
        return new EventBusMetrics(bus);
    }

    /** The outbox relay's and the inbox's meters, when the starter runs them. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = {"dev.eventbus.jdbc.OutboxRelay", "dev.eventbus.micrometer.OutboxMetrics"})
    static class JdbcMetricsConfiguration {

        @Bean
        @ConditionalOnBean(TransactionalOutbox.class)
        OutboxRelayMeters eventBusOutboxMeters(TransactionalOutbox outbox, ObjectProvider<RelayLifecycle> relay,
                                               ObjectProvider<DataSource> dataSource, EventBusSettings settings) {
            String prefix = settings.get(JdbcConfig.TABLE_PREFIX);
            return new OutboxRelayMeters(relay.getIfAvailable(), dataSource.getIfUnique(),
                    prefix == null || prefix.isBlank() ? JdbcConfig.DEFAULT_TABLE_PREFIX : prefix.trim());
        }

        /** Tagged {@code eventbus.inbox=<service>} (eventbus.service, else spring.application.name). */
        @Bean
        @ConditionalOnBean(SpringInbox.class)
        InboxMetrics eventBusInboxMetrics(SpringInbox inbox, EventBus bus) {
            return new InboxMetrics(inbox.inbox(), bus.serviceName());
        }
    }
}
