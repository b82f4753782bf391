package dev.eventbus.rabbitmq;

import dev.eventbus.ConfigException;
import dev.eventbus.spi.TransportContext;

import java.nio.file.Path;
import java.time.Duration;

/**
 * Reads the {@code eventbus.rabbitmq.*} keys of a {@link TransportContext} into a {@link RabbitMqConfig.Builder}.
 * Every key it reads must be one of {@link RabbitMqConfig#KEYS} (what the provider declares, so the bus refuses any
 * other key under {@code eventbus.rabbitmq.}); reading an undeclared one is a bug caught by the first test that
 * builds a configuration.
 *
 * <p>Stateless and thread-safe.
 */
final class RabbitMqConfigReader {

    private final TransportContext context;

    private RabbitMqConfigReader(TransportContext context) {
        this.context = context;
    }

    /** @throws ConfigException naming the key and the expected value when a setting is invalid */
    static RabbitMqConfig read(TransportContext context) {
        RabbitMqConfigReader r = new RabbitMqConfigReader(context);
        RabbitMqConfig.Builder b = RabbitMqConfig.builder().serviceName(context.serviceName());
        String uri = r.get(RabbitMqConfig.URI);
        if (uri != null) {
            b.uri(uri);
        }
        if (r.get(RabbitMqConfig.TLS) != null) {
            b.tls(context.getBoolean(RabbitMqConfig.TLS, false));
        }
        if (r.get(RabbitMqConfig.HOST) != null) {
            b.host(r.get(RabbitMqConfig.HOST));
        }
        if (r.get(RabbitMqConfig.PORT) != null) {
            b.port(context.getInt(RabbitMqConfig.PORT, 5672, 1, 65535));
        }
        if (r.get(RabbitMqConfig.USERNAME) != null) {
            b.username(r.get(RabbitMqConfig.USERNAME));
        }
        if (r.get(RabbitMqConfig.PASSWORD) != null) {
            b.password(r.get(RabbitMqConfig.PASSWORD));
        }
        if (r.get(RabbitMqConfig.VIRTUAL_HOST) != null) {
            b.virtualHost(r.get(RabbitMqConfig.VIRTUAL_HOST));
        }
        if (r.get(RabbitMqConfig.TLS_TRUST_STORE) != null) {
            b.trustStore(Path.of(r.get(RabbitMqConfig.TLS_TRUST_STORE)), r.get(RabbitMqConfig.TLS_TRUST_STORE_PASSWORD));
        }
        if (r.get(RabbitMqConfig.TLS_KEY_STORE) != null) {
            b.keyStore(Path.of(r.get(RabbitMqConfig.TLS_KEY_STORE)), r.get(RabbitMqConfig.TLS_KEY_STORE_PASSWORD));
        }
        b.verifyHostname(context.getBoolean(r.key(RabbitMqConfig.TLS_VERIFY_HOSTNAME), true));
        b.prefix(context.get(r.key(RabbitMqConfig.TOPOLOGY_PREFIX), ""));
        b.queueType(context.getEnum(r.key(RabbitMqConfig.QUEUE_TYPE), RabbitMqConfig.QueueType.class,
                RabbitMqConfig.QueueType.QUORUM));
        b.prefetch(context.getInt(r.key(RabbitMqConfig.PREFETCH), 200, 1, 65535));
        b.maxPriority(context.getInt(r.key(RabbitMqConfig.MAX_PRIORITY), 0, 0, 255));
        b.confirmWindow(context.getInt(r.key(RabbitMqConfig.CONFIRM_WINDOW), 512, 1, 1_000_000));
        b.publishTimeout(r.positive(RabbitMqConfig.PUBLISH_TIMEOUT, Duration.ofSeconds(30)));
        b.publishMaxBlock(r.positive(RabbitMqConfig.PUBLISH_MAX_BLOCK, Duration.ofSeconds(5)));
        b.mandatory(context.getBoolean(r.key(RabbitMqConfig.MANDATORY), true));
        b.deliveryLimit(context.getInt(r.key(RabbitMqConfig.DELIVERY_LIMIT), 10, 1, 1_000_000));
        b.shards(context.getInt(r.key(RabbitMqConfig.SHARDS), 8, 1, 1024));
        b.keyOrder(context.getBoolean(r.key(RabbitMqConfig.KEY_ORDER), true));
        b.rebalanceInterval(r.positive(RabbitMqConfig.REBALANCE_INTERVAL, Duration.ofSeconds(1)));
        b.recoveryInterval(r.positive(RabbitMqConfig.RECOVERY_INTERVAL, Duration.ofSeconds(2)));
        b.heartbeat(context.getDuration(r.key(RabbitMqConfig.HEARTBEAT), Duration.ofSeconds(30)));
        b.connectionTimeout(r.positive(RabbitMqConfig.CONNECTION_TIMEOUT, Duration.ofSeconds(10)));
        return b.build();
    }

    /** {@code key}, after checking that the provider declares it. */
    private String key(String key) {
        if (!RabbitMqConfig.KEYS.contains(key)) {
            throw new IllegalStateException(key + " is read but not in RabbitMqConfig.KEYS, so the bus would refuse it");
        }
        return key;
    }

    private String get(String key) {
        return context.get(key(key));
    }

    private Duration positive(String key, Duration defaultValue) {
        Duration d = context.getDuration(key(key), defaultValue);
        if (d.isNegative() || d.isZero()) {
            throw new ConfigException(key, d.toString(), "a positive duration such as 500ms or 5s");
        }
        return d;
    }
}
