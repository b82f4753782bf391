package dev.eventbus.spring;

import dev.eventbus.ConsumeInterceptor;
import dev.eventbus.EventBus;
import dev.eventbus.EventBusConfig;
import dev.eventbus.PublishInterceptor;
import dev.eventbus.Upcaster;
import dev.eventbus.jdbc.JdbcConfig;
import dev.eventbus.jdbc.JdbcEventStore;
import dev.eventbus.jdbc.JdbcTransport;
import dev.eventbus.jdbc.Outbox;
import dev.eventbus.jdbc.SchemaMode;
import dev.eventbus.spi.Transport;
import dev.eventbus.spring.internal.DataSourceTransportFactory;
import dev.eventbus.spring.internal.EventBusSettings;
import dev.eventbus.spring.internal.RelayLifecycle;
import dev.eventbus.spring.internal.SpringInbox;
import dev.eventbus.spring.internal.SubscriberBeans;
import dev.eventbus.spring.internal.TransactionBoundDataSource;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBooleanProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnSingleCandidate;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.transaction.PlatformTransactionManager;

import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import javax.sql.DataSource;

/**
 * Auto-configures an {@link EventBus} from the {@code eventbus.*} properties, registers the {@code @Subscribe}
 * methods of every bean while the context runs, and, with a {@code DataSource} and {@code eventbus-jdbc-outbox},
 * the {@link TransactionalOutbox}, its relay, the Spring-transactional inbox ({@code eventbus.spring.inbox.enabled})
 * and the JDBC transport on the application's DataSource.
 *
 * <p>Beans of type {@link PublishInterceptor}, {@link ConsumeInterceptor} and {@link Upcaster} are added to the bus in
 * their {@code @Order}; {@link EventBusBuilderCustomizer}s run last. Define an {@code EventBus} bean of your own to
 * take over entirely (subscriber registration still applies to it).
 *
 * <p>Lifecycle: the bus is built (and its transports connected) when its bean is created, and closed when the
 * context closes, after every {@code SmartLifecycle} stopped. The outbox relay runs in phase
 * {@code DEFAULT_PHASE - 4096} (starts before, stops after the web server); subscribers in
 * {@code DEFAULT_PHASE - 100} (start after, stop before it).
 */
@AutoConfiguration(afterName = {
        "org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration",
        "org.springframework.boot.jdbc.autoconfigure.DataSourceTransactionManagerAutoConfiguration",
        "org.springframework.boot.transaction.autoconfigure.TransactionAutoConfiguration"})
@ConditionalOnClass(EventBus.class)
@ConditionalOnBooleanProperty(name = "eventbus.spring.enabled", matchIfMissing = true)
@EnableConfigurationProperties(EventBusSpringProperties.class)
public class EventBusAutoConfiguration {

    /** The flattened {@code eventbus.*} settings the bus and the JDBC components are built from. */
    @Bean
    @ConditionalOnMissingBean
    public EventBusSettings eventBusSettings(ConfigurableEnvironment environment, EventBusSpringProperties properties) {
        return EventBusSettings.from(environment, properties.isInMemory());
    }

    /**
     * The bus.
     *
     * @throws dev.eventbus.ConfigException naming the key when a setting is wrong (startup fails)
     */
    @Bean(destroyMethod = "close")
    @ConditionalOnMissingBean
    public EventBus eventBus(EventBusSettings settings, ConfigurableEnvironment environment,
                             ObjectProvider<PublishInterceptor> publishInterceptors,
                             ObjectProvider<ConsumeInterceptor> consumeInterceptors,
                             ObjectProvider<Upcaster> upcasters,
                             ObjectProvider<DataSourceTransportFactory> dataSourceTransport,
                             ObjectProvider<EventBusBuilderCustomizer> customizers) {
        Map<String, String> config = settings.busConfig();
        EventBus.Builder b = EventBus.builder().config(config);
        String appName = environment.getProperty("spring.application.name");
        if (config.get(EventBusConfig.SERVICE) == null && appName != null && !appName.isBlank()) {
            b.service(appName);
        }
        publishInterceptors.orderedStream().forEach(b::publishInterceptor);
        consumeInterceptors.orderedStream().forEach(b::consumeInterceptor);
        upcasters.orderedStream().forEach(b::upcaster);
        Transport jdbc = null;
        DataSourceTransportFactory f = dataSourceTransport.getIfAvailable();
        if (f != null && !settings.inMemory() && settings.transportNames().contains("jdbc")
                && settings.get("eventbus.jdbc.url") == null) {
            jdbc = f.create(settings.all());
            b.transport("jdbc", jdbc);
        }
        customizers.orderedStream().forEach(c -> c.customize(b));
        try {
            return b.build();
        } catch (RuntimeException e) {
            if (jdbc != null) {
                jdbc.close(Duration.ofSeconds(5));
            }
            throw e;
        }
    }

    /** Registers beans' {@code @Subscribe} methods while the context runs. */
    @Bean
    public static SubscriberBeans eventBusSubscriberBeans(ObjectProvider<EventBus> bus) {
        return new SubscriberBeans(bus);
    }

    /** The outbox, relay, inbox and JDBC transport on the application's DataSource. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = {"dev.eventbus.jdbc.Outbox", "org.springframework.jdbc.datasource.DataSourceUtils"})
    @ConditionalOnSingleCandidate(DataSource.class)
    static class JdbcConfiguration {

        @Bean
        @ConditionalOnBooleanProperty(name = "eventbus.spring.jdbc-transport-on-data-source", matchIfMissing = true)
        DataSourceTransportFactory eventBusDataSourceTransport(DataSource dataSource) {
            return config -> JdbcTransport.builder(dataSource).config(config).build();
        }

        @Bean
        @ConditionalOnBooleanProperty(name = "eventbus.spring.outbox.enabled", matchIfMissing = true)
        @ConditionalOnBooleanProperty(name = "eventbus.spring.outbox.relay", matchIfMissing = true)
        @ConditionalOnMissingBean
        RelayLifecycle eventBusOutboxRelay(DataSource dataSource, EventBus bus, EventBusSettings settings,
                                           EventBusSpringProperties properties) {
            String target = properties.getOutbox().getTarget();
            if (target == null || target.isBlank() || settings.inMemory()) {
                target = settings.defaultTransport();
            }
            bus.transport(target); // fails now, naming what exists, rather than when the relay starts
            return new RelayLifecycle(dataSource, bus, target, settings.all(), Duration.ofSeconds(30));
        }

        @Bean
        @ConditionalOnBooleanProperty(name = "eventbus.spring.outbox.enabled", matchIfMissing = true)
        @ConditionalOnMissingBean
        TransactionalOutbox transactionalOutbox(DataSource dataSource, EventBus bus, EventBusSettings settings,
                                                ObjectProvider<RelayLifecycle> relay) {
            Outbox outbox = Outbox.builder(dataSource).bus(bus).config(settings.all()).build();
            RelayLifecycle r = relay.getIfAvailable();
            return new TransactionalOutbox(outbox, dataSource, r == null ? null : r::wakeUp);
        }

        /**
         * The event store, opt-in ({@code eventbus.spring.event-store.enabled=true}): inside a Spring transaction an
         * {@code append} (its stream row, events and outbox rows) uses the transaction's connection and commits or
         * rolls back with it; outside one it commits on its own, as {@link JdbcEventStore#append} does.
         */
        @Bean
        @ConditionalOnClass(name = "dev.eventbus.jdbc.JdbcEventStore")
        @ConditionalOnBooleanProperty(name = "eventbus.spring.event-store.enabled")
        @ConditionalOnMissingBean
        JdbcEventStore eventBusEventStore(DataSource dataSource, EventBus bus, EventBusSettings settings,
                                          ObjectProvider<RelayLifecycle> relay) {
            RelayLifecycle r = relay.getIfAvailable();
            DataSource joined = new TransactionBoundDataSource(dataSource, r == null ? null : r::wakeUp);
            // The outbox reads the dialect, table prefix and schema mode from the same keys as the starter's.
            Outbox outbox = Outbox.builder(joined).bus(bus).config(settings.all()).build();
            JdbcEventStore.Builder b = JdbcEventStore.builder(joined).bus(bus).outbox(outbox).dialect(outbox.dialect());
            String prefix = settings.get(JdbcConfig.TABLE_PREFIX);
            if (prefix != null && !prefix.isBlank()) {
                b.tablePrefix(prefix.trim());
            }
            String mode = settings.get(JdbcConfig.CREATE_SCHEMA);
            if (mode != null && !mode.isBlank()) {
                try {
                    b.schemaMode(SchemaMode.valueOf(mode.trim().toUpperCase(Locale.ROOT)));
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(JdbcConfig.CREATE_SCHEMA + " must be embedded, always or never,"
                            + " was '" + mode + "'", e);
                }
            }
            return b.build();
        }

        @Bean(destroyMethod = "close")
        @ConditionalOnBooleanProperty(name = "eventbus.spring.inbox.enabled")
        @ConditionalOnMissingBean
        SpringInbox eventBusInbox(DataSource dataSource, ObjectProvider<PlatformTransactionManager> transactions,
                                  EventBusSettings settings) {
            PlatformTransactionManager tm = transactions.getIfUnique();
            if (tm == null) {
                throw new IllegalStateException("eventbus.spring.inbox.enabled=true needs exactly one "
                        + "PlatformTransactionManager bean (spring-boot-starter-jdbc or -data-jpa provides one)");
            }
            return new SpringInbox(dataSource, tm, settings.all());
        }
    }
}
