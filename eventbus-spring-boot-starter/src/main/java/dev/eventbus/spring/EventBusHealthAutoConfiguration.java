package dev.eventbus.spring;

import dev.eventbus.EventBus;
import dev.eventbus.jdbc.OutboxRelay;
import dev.eventbus.spi.HealthCheck;
import dev.eventbus.spi.Transport;
import dev.eventbus.spring.internal.EventBusSettings;
import dev.eventbus.spring.internal.OutboxLag;
import dev.eventbus.spring.internal.RelayLifecycle;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.actuate.autoconfigure.endpoint.condition.ConditionalOnAvailableEndpoint;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.CompositeHealthContributor;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthContributor;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Actuator support: the {@code eventbus} health contributor (one indicator per transport of the bus, from the
 * transport's {@link HealthCheck}, plus {@code outbox-relay} for the relay's lag) and the {@code eventbus} endpoint
 * ({@link EventBusEndpoint}: dead letters, replay). The endpoint is not exposed over the web unless
 * {@code management.endpoints.web.exposure.include} names it, like every actuator endpoint but health.
 */
@AutoConfiguration(after = EventBusAutoConfiguration.class)
@ConditionalOnClass(name = "org.springframework.boot.actuate.endpoint.annotation.Endpoint")
@ConditionalOnBean(EventBus.class)
public class EventBusHealthAutoConfiguration {

    /** The dead-letter endpoint. */
    @Bean
    @ConditionalOnMissingBean
    @ConditionalOnAvailableEndpoint
    public EventBusEndpoint eventBusEndpoint(EventBus bus) {
        return new EventBusEndpoint(bus);
    }

    /** Health, when spring-boot-health is present and {@code management.health.eventbus.enabled} is not false. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.health.contributor.HealthIndicator")
    @ConditionalOnEnabledHealthIndicator("eventbus")
    static class HealthConfiguration {

        @Bean
        @ConditionalOnMissingBean(name = "eventbusHealthContributor")
        CompositeHealthContributor eventbusHealthContributor(EventBus bus, EventBusSettings settings,
                                                             EventBusSpringProperties properties,
                                                             ObjectProvider<RelayLifecycle> relay,
                                                             ObjectProvider<TransactionalOutbox> outbox,
                                                             ObjectProvider<javax.sql.DataSource> dataSource) {
            Duration timeout = properties.getHealth().getTimeout();
            Map<String, HealthContributor> parts = new LinkedHashMap<>();
            for (String name : settings.transportNames()) {
                Transport t;
                try {
                    t = bus.transport(name);
                } catch (IllegalArgumentException e) {
                    continue;
                }
                parts.put(name, transportIndicator(t, timeout));
            }
            RelayLifecycle r = relay.getIfAvailable();
            TransactionalOutbox o = outbox.getIfAvailable();
            if (r != null && o != null) {
                parts.put("outbox-relay", relayIndicator(r, o.outbox().table(), dataSource.getObject(),
                        properties.getHealth().getRelayLagThreshold()));
            }
            return CompositeHealthContributor.fromMap(parts);
        }

        static HealthIndicator transportIndicator(Transport t, Duration timeout) {
            return () -> {
                if (!(t instanceof HealthCheck hc)) {
                    return Health.up().withDetail("transport", t.name())
                            .withDetail("check", "in process; nothing to reach").build();
                }
                HealthCheck.Result r = hc.check(timeout);
                return (r.up() ? Health.up() : Health.down()).withDetail("transport", t.name())
                        .withDetails(r.details()).build();
            };
        }

        static HealthIndicator relayIndicator(RelayLifecycle relay, String table, javax.sql.DataSource dataSource,
                                              Duration threshold) {
            return () -> {
                OutboxRelay running = relay.relay();
                if (running == null) {
                    return Health.down().withDetail("error", "the outbox relay is not running").build();
                }
                OutboxRelay.Stats stats = running.stats();
                Health.Builder h;
                try {
                    OutboxLag.Lag lag = OutboxLag.read(dataSource, table);
                    long age = lag.oldestCreatedAt() < 0 ? 0 : Math.max(0, System.currentTimeMillis() - lag.oldestCreatedAt());
                    h = age > threshold.toMillis() ? Health.down().withDetail("error",
                            "the oldest unsent outbox row waits for " + Duration.ofMillis(age) + ", more than " + threshold)
                            : Health.up();
                    h.withDetail("unsent", lag.unsent()).withDetail("oldestUnsentAge", Duration.ofMillis(age).toString())
                            .withDetail("abandoned", lag.abandoned());
                } catch (java.sql.SQLException | RuntimeException e) {
                    h = Health.down().withDetail("error", "cannot read the outbox: " + e);
                }
                return h.withDetail("target", relay.target()).withDetail("published", stats.published())
                        .withDetail("failedSends", stats.failed()).withDetail("outages", stats.outages()).build();
            };
        }
    }
}
