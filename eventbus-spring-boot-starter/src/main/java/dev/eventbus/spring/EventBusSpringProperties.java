package dev.eventbus.spring;

import org.springframework.boot.context.properties.ConfigurationProperties;

import java.time.Duration;

/**
 * The starter's own settings, under {@code eventbus.spring.*}. Every other {@code eventbus.*} key is the bus's or a
 * transport's (see {@code EventBusConfig}, {@code KafkaConfig}, {@code RabbitMqConfig}, {@code JdbcConfig}) and is
 * passed to {@code EventBus.builder().config(...)} as written. An unknown {@code eventbus.spring.*} key fails
 * startup, naming it.
 *
 * <p>A mutable JavaBean bound by Spring at startup; not meant to be changed afterwards.
 */
@ConfigurationProperties(prefix = "eventbus.spring", ignoreUnknownFields = false)
public class EventBusSpringProperties {

    /** Whether the starter creates an EventBus at all. */
    private boolean enabled = true;

    /**
     * Replace every transport with the in-memory one (routes and transport settings are ignored, nothing connects
     * to a broker). Meant for tests; {@code @InMemoryEventBus} sets it.
     */
    private boolean inMemory = false;

    /**
     * With eventbus.transport=jdbc (or a route to jdbc) and no eventbus.jdbc.url, run the JDBC transport on the
     * application's DataSource.
     */
    private boolean jdbcTransportOnDataSource = true;

    private final Outbox outbox = new Outbox();
    private final Inbox inbox = new Inbox();
    private final EventStore eventStore = new EventStore();
    private final Metrics metrics = new Metrics();
    private final Health health = new Health();

    public boolean isEnabled() {
        return enabled;
    }

    public void setEnabled(boolean enabled) {
        this.enabled = enabled;
    }

    public boolean isInMemory() {
        return inMemory;
    }

    public void setInMemory(boolean inMemory) {
        this.inMemory = inMemory;
    }

    public boolean isJdbcTransportOnDataSource() {
        return jdbcTransportOnDataSource;
    }

    public void setJdbcTransportOnDataSource(boolean jdbcTransportOnDataSource) {
        this.jdbcTransportOnDataSource = jdbcTransportOnDataSource;
    }

    public Outbox getOutbox() {
        return outbox;
    }

    public Inbox getInbox() {
        return inbox;
    }

    public EventStore getEventStore() {
        return eventStore;
    }

    public Metrics getMetrics() {
        return metrics;
    }

    public Health getHealth() {
        return health;
    }

    /** The transactional outbox on the application's DataSource. */
    public static class Outbox {
        /** Create a TransactionalOutbox bean when a DataSource and eventbus-jdbc-outbox are present. */
        private boolean enabled = true;
        /** Run an OutboxRelay in this application, moving committed outbox rows to the target transport. */
        private boolean relay = true;
        /** The transport the relay sends to, by name. Default: the bus's default transport (eventbus.transport). */
        private String target;

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }

        public boolean isRelay() {
            return relay;
        }

        public void setRelay(boolean relay) {
            this.relay = relay;
        }

        public String getTarget() {
            return target;
        }

        public void setTarget(String target) {
            this.target = target;
        }
    }

    /** The inbox: every subscriber invocation in a Spring transaction that records the event once. */
    public static class Inbox {
        /** Wrap every subscriber invocation in an inbox transaction on the application's DataSource. */
        private boolean enabled = false;

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }
    }

    /** The JDBC event store on the application's DataSource. */
    public static class EventStore {
        /**
         * Create a JdbcEventStore bean on the application's DataSource, joining the current Spring transaction
         * (tables: eventbus.jdbc.table-prefix; created as eventbus.jdbc.create-schema says).
         */
        private boolean enabled = false;

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }
    }

    /** Micrometer meters of the bus, the outbox relay and the inbox (needs eventbus-micrometer and a MeterRegistry). */
    public static class Metrics {
        /** Bind the bus's, the outbox relay's and the inbox's meters to the application's MeterRegistry. */
        private boolean enabled = true;

        public boolean isEnabled() {
            return enabled;
        }

        public void setEnabled(boolean enabled) {
            this.enabled = enabled;
        }
    }

    /** Actuator health of the transports and the outbox relay. */
    public static class Health {
        /** How long one transport's health check may take. */
        private Duration timeout = Duration.ofSeconds(3);
        /** The outbox relay is DOWN when its oldest unsent row is older than this. */
        private Duration relayLagThreshold = Duration.ofMinutes(1);

        public Duration getTimeout() {
            return timeout;
        }

        public void setTimeout(Duration timeout) {
            this.timeout = timeout;
        }

        public Duration getRelayLagThreshold() {
            return relayLagThreshold;
        }

        public void setRelayLagThreshold(Duration relayLagThreshold) {
            this.relayLagThreshold = relayLagThreshold;
        }
    }
}
