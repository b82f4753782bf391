package dev.eventbus.rabbitmq;

import dev.eventbus.ConfigException;
import dev.eventbus.rabbitmq.internal.AmqpUri;
import dev.eventbus.spi.TransportContext;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Objects;

/**
 * Settings of a {@link RabbitMqTransport}: where the broker is, how topology is named and declared, and how
 * publishing and consuming behave. The {@code eventbus.rabbitmq.*} key constants below are the configuration
 * keys read by {@link RabbitMqTransportProvider} (from {@code eventbus.properties}, system properties or
 * {@code EVENTBUS_RABBITMQ_*} environment variables); the {@link Builder} sets the same values in code.
 *
 * <p>Validation happens in {@link Builder#build()} (and so when a bus is built from configuration): a bad value
 * fails with a {@link ConfigException} naming the key and what is allowed. Secrets (password, URI) are never
 * part of a message or of {@link #toString()}.
 *
 * <p>Immutable and thread-safe.
 */
public final class RabbitMqConfig {

    /** Broker URI, {@code amqp://user:pass@host:5672/vhost} or {@code amqps://...}. A URI ending in {@code /} (or with no path) means the default virtual host {@code /}. Other keys override its parts. */
    public static final String URI = "eventbus.rabbitmq.uri";
    /** Broker host name; default {@code localhost}. */
    public static final String HOST = "eventbus.rabbitmq.host";
    /** Broker port; default 5672, or 5671 with TLS. */
    public static final String PORT = "eventbus.rabbitmq.port";
    /** User name; default {@code guest}. */
    public static final String USERNAME = "eventbus.rabbitmq.username";
    /** Password; default {@code guest}. Never logged. */
    public static final String PASSWORD = "eventbus.rabbitmq.password";
    /** Virtual host; default {@code /}. */
    public static final String VIRTUAL_HOST = "eventbus.rabbitmq.virtual-host";
    /** {@code true} to connect with TLS (implied by an {@code amqps://} URI); default false. */
    public static final String TLS = "eventbus.rabbitmq.tls";
    /** TLS: trust store file (PKCS12 or JKS) holding the CA of the broker's certificate; default the JVM's trust store. */
    public static final String TLS_TRUST_STORE = "eventbus.rabbitmq.tls.trust-store";
    /** TLS: password of the trust store. */
    public static final String TLS_TRUST_STORE_PASSWORD = "eventbus.rabbitmq.tls.trust-store-password";
    /** TLS: key store file (PKCS12 or JKS) with this client's certificate, for brokers that require client certificates. */
    public static final String TLS_KEY_STORE = "eventbus.rabbitmq.tls.key-store";
    /** TLS: password of the key store (and of its key). */
    public static final String TLS_KEY_STORE_PASSWORD = "eventbus.rabbitmq.tls.key-store-password";
    /** TLS: check that the broker's certificate matches the host name; default true. */
    public static final String TLS_VERIFY_HOSTNAME = "eventbus.rabbitmq.tls.verify-hostname";
    /** Prefix of every exchange and queue name this transport declares (e.g. {@code prod.}); default empty. */
    public static final String TOPOLOGY_PREFIX = "eventbus.rabbitmq.prefix";
    /** {@code quorum} (default: replicated, delivery limit) or {@code classic} (needed for priorities). */
    public static final String QUEUE_TYPE = "eventbus.rabbitmq.queue-type";
    /** Unacknowledged messages one subscription may hold (split over its channels); default 200. */
    public static final String PREFETCH = "eventbus.rabbitmq.prefetch";
    /** Highest message priority the group queues accept (1 to 255; needs classic queues); default 0 = no priorities. */
    public static final String MAX_PRIORITY = "eventbus.rabbitmq.max-priority";
    /** Publishes that may wait for their broker confirm at once; a publish beyond it waits for room; default 512. */
    public static final String CONFIRM_WINDOW = "eventbus.rabbitmq.confirm-window";
    /**
     * How long a publish may wait for room in the confirm window, for connection recovery, or for its confirm,
     * before its future fails with a retriable error; default 30s.
     */
    public static final String PUBLISH_TIMEOUT = "eventbus.rabbitmq.publish-timeout";
    /**
     * Longest time a publish may hold the calling thread (waiting for room in the confirm window, or declaring a
     * stream's exchange on first use) before its future fails with a retriable error instead; default 5s. During a
     * broker outage publishes do not wait for the broker on the caller's thread: they are queued until the connection
     * recovers (or {@link #PUBLISH_TIMEOUT} passes), and once the window is full each further call returns within
     * this time.
     */
    public static final String PUBLISH_MAX_BLOCK = "eventbus.rabbitmq.publish-max-block";
    /** {@code true} (default) to fail a publish that no queue receives (no group bound its type); false drops it silently. */
    public static final String MANDATORY = "eventbus.rabbitmq.mandatory";
    /** Quorum queues: deliveries of one message (consumer crashed, never acknowledged) before the broker dead-letters it; default 10. */
    public static final String DELIVERY_LIMIT = "eventbus.rabbitmq.delivery-limit";
    /**
     * {@code true} (default) to honour subscriptions that ask for per-key order (shard queues fed by the key's shard
     * route, which the publisher computes; no plugin needed); {@code false} to serve every group from one queue with
     * competing consumers, without per-key order across concurrent handlers.
     */
    public static final String KEY_ORDER = "eventbus.rabbitmq.key-order";
    /**
     * Per-key ordered groups: number of shard queues keys are spread over (1 to 1024); default 8. Fixed for the life
     * of a group: subscribing an existing group with another count fails naming this key (see the module README).
     */
    public static final String SHARDS = "eventbus.rabbitmq.shards";
    /** Per-key ordered groups: how often instances check membership and rebalance shard ownership; default 1s. */
    public static final String REBALANCE_INTERVAL = "eventbus.rabbitmq.rebalance-interval";
    /** Pause between connection recovery attempts; default 2s. */
    public static final String RECOVERY_INTERVAL = "eventbus.rabbitmq.recovery-interval";
    /** AMQP heartbeat; default 30s. */
    public static final String HEARTBEAT = "eventbus.rabbitmq.heartbeat";
    /**
     * TCP connect and AMQP handshake timeout: an unreachable broker is reported within this time (and once more the
     * handshake's when the port answers but AMQP does not); default 10s.
     */
    public static final String CONNECTION_TIMEOUT = "eventbus.rabbitmq.connection-timeout";

    /** Every key above: what {@link RabbitMqTransportProvider#configKeys()} declares. */
    static final java.util.List<String> KEYS = java.util.List.of(URI, HOST, PORT, USERNAME, PASSWORD, VIRTUAL_HOST, TLS,
            TLS_TRUST_STORE, TLS_TRUST_STORE_PASSWORD, TLS_KEY_STORE, TLS_KEY_STORE_PASSWORD, TLS_VERIFY_HOSTNAME,
            TOPOLOGY_PREFIX, QUEUE_TYPE, PREFETCH, MAX_PRIORITY, CONFIRM_WINDOW, PUBLISH_TIMEOUT, PUBLISH_MAX_BLOCK,
            MANDATORY, DELIVERY_LIMIT, KEY_ORDER, SHARDS, REBALANCE_INTERVAL, RECOVERY_INTERVAL, HEARTBEAT,
            CONNECTION_TIMEOUT);

    /** The queue type of group, shard, retry and dead-letter queues. */
    public enum QueueType {
        /** Replicated Raft queues; supports the delivery limit; no priorities. The default. */
        QUORUM,
        /** Classic mirrored-or-not queues; supports priorities; no delivery limit. */
        CLASSIC
    }

    private final String serviceName;
    private final String host;
    private final int port;
    private final String username;
    private final String password;
    private final String virtualHost;
    private final boolean tls;
    private final Path trustStore;
    private final String trustStorePassword;
    private final Path keyStore;
    private final String keyStorePassword;
    private final boolean verifyHostname;
    private final String prefix;
    private final QueueType queueType;
    private final int prefetch;
    private final int maxPriority;
    private final int confirmWindow;
    private final Duration publishTimeout;
    private final Duration publishMaxBlock;
    private final boolean mandatory;
    private final int deliveryLimit;
    private final int shards;
    private final boolean keyOrder;
    private final Duration rebalanceInterval;
    private final Duration recoveryInterval;
    private final Duration heartbeat;
    private final Duration connectionTimeout;

    private RabbitMqConfig(Builder b) {
        this.serviceName = b.serviceName;
        this.tls = b.tls;
        this.host = b.host;
        this.port = b.port;
        this.username = b.username;
        this.password = b.password;
        this.virtualHost = b.virtualHost;
        this.trustStore = b.trustStore;
        this.trustStorePassword = b.trustStorePassword;
        this.keyStore = b.keyStore;
        this.keyStorePassword = b.keyStorePassword;
        this.verifyHostname = b.verifyHostname;
        this.prefix = b.prefix;
        this.queueType = b.queueType;
        this.prefetch = b.prefetch;
        this.maxPriority = b.maxPriority;
        this.confirmWindow = b.confirmWindow;
        this.publishTimeout = b.publishTimeout;
        this.publishMaxBlock = b.publishMaxBlock;
        this.mandatory = b.mandatory;
        this.deliveryLimit = b.deliveryLimit;
        this.shards = b.shards;
        this.keyOrder = b.keyOrder;
        this.rebalanceInterval = b.rebalanceInterval;
        this.recoveryInterval = b.recoveryInterval;
        this.heartbeat = b.heartbeat;
        this.connectionTimeout = b.connectionTimeout;
    }

    /** A builder with every default. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Reads every {@code eventbus.rabbitmq.*} key of {@code context}; the connection is named after its service.
     *
     * @throws ConfigException naming the key and the expected value when a setting is invalid
     */
    public static RabbitMqConfig from(TransportContext context) {
        return RabbitMqConfigReader.read(context);
    }

    /** The bus's service name; the AMQP connections are named after it. */
    public String serviceName() {
        return serviceName;
    }

    public String host() {
        return host;
    }

    public int port() {
        return port;
    }

    public String username() {
        return username;
    }

    /** The password, for the connection factory only. */
    public String password() {
        return password;
    }

    public String virtualHost() {
        return virtualHost;
    }

    public boolean tls() {
        return tls;
    }

    /** The TLS trust store, or null for the JVM default. */
    public Path trustStore() {
        return trustStore;
    }

    public String trustStorePassword() {
        return trustStorePassword;
    }

    /** The TLS client key store, or null. */
    public Path keyStore() {
        return keyStore;
    }

    public String keyStorePassword() {
        return keyStorePassword;
    }

    public boolean verifyHostname() {
        return verifyHostname;
    }

    public String prefix() {
        return prefix;
    }

    public QueueType queueType() {
        return queueType;
    }

    public int prefetch() {
        return prefetch;
    }

    public int maxPriority() {
        return maxPriority;
    }

    public int confirmWindow() {
        return confirmWindow;
    }

    public Duration publishTimeout() {
        return publishTimeout;
    }

    /** See {@link #PUBLISH_MAX_BLOCK}. */
    public Duration publishMaxBlock() {
        return publishMaxBlock;
    }

    public boolean mandatory() {
        return mandatory;
    }

    public int deliveryLimit() {
        return deliveryLimit;
    }

    public int shards() {
        return shards;
    }

    public Duration rebalanceInterval() {
        return rebalanceInterval;
    }

    public boolean keyOrder() {
        return keyOrder;
    }

    public Duration recoveryInterval() {
        return recoveryInterval;
    }

    public Duration heartbeat() {
        return heartbeat;
    }

    public Duration connectionTimeout() {
        return connectionTimeout;
    }

    /** Where the broker is, without credentials: {@code amqp://host:port/vhost (user guest)}. */
    public String describeBroker() {
        return (tls ? "amqps" : "amqp") + "://" + host + ":" + port + "/"
                + (virtualHost.equals("/") ? "" : virtualHost) + " (user " + username + ")";
    }

    @Override
    public String toString() {
        return "RabbitMqConfig{broker=" + describeBroker() + ", service=" + serviceName + ", prefix='" + prefix
                + "', queueType=" + queueType.name().toLowerCase(Locale.ROOT) + ", prefetch=" + prefetch
                + ", maxPriority=" + maxPriority + ", confirmWindow=" + confirmWindow + ", publishTimeout="
                + publishTimeout + ", publishMaxBlock=" + publishMaxBlock + ", mandatory=" + mandatory + ", deliveryLimit=" + deliveryLimit + ", keyOrder=" + keyOrder
                + ", shards=" + shards + '}';
    }

    /**
     * Builds a {@link RabbitMqConfig}. Each setter overrides what {@link #uri(String)} said about the same part.
     * Not thread-safe; {@link #build()} validates and fails with a {@link ConfigException}.
     */
    public static final class Builder {
        private String serviceName = "eventbus";
        private String uri;
        private String host;
        private Integer port;
        private String username;
        private String password;
        private String virtualHost;
        private Boolean tls;
        private Path trustStore;
        private String trustStorePassword;
        private Path keyStore;
        private String keyStorePassword;
        private boolean verifyHostname = true;
        private String prefix = "";
        private QueueType queueType = QueueType.QUORUM;
        private int prefetch = 200;
        private int maxPriority;
        private int confirmWindow = 512;
        private Duration publishTimeout = Duration.ofSeconds(30);
        private Duration publishMaxBlock = Duration.ofSeconds(5);
        private boolean mandatory = true;
        private int deliveryLimit = 10;
        private int shards = 8;
        private boolean keyOrder = true;
        private Duration rebalanceInterval = Duration.ofSeconds(1);
        private Duration recoveryInterval = Duration.ofSeconds(2);
        private Duration heartbeat = Duration.ofSeconds(30);
        private Duration connectionTimeout = Duration.ofSeconds(10);

        private Builder() {
        }

        public Builder serviceName(String serviceName) {
            this.serviceName = Objects.requireNonNull(serviceName, "serviceName");
            return this;
        }

        /** {@code amqp[s]://[user[:password]@]host[:port][/vhost]}; see {@link RabbitMqConfig#URI}. */
        public Builder uri(String uri) {
            this.uri = Objects.requireNonNull(uri, "uri");
            return this;
        }

        public Builder host(String host) {
            this.host = host;
            return this;
        }

        public Builder port(int port) {
            this.port = port;
            return this;
        }

        public Builder username(String username) {
            this.username = username;
            return this;
        }

        public Builder password(String password) {
            this.password = password;
            return this;
        }

        public Builder virtualHost(String virtualHost) {
            this.virtualHost = virtualHost;
            return this;
        }

        public Builder tls(boolean tls) {
            this.tls = tls;
            return this;
        }

        public Builder trustStore(Path file, String password) {
            this.trustStore = file;
            this.trustStorePassword = password;
            return this;
        }

        public Builder keyStore(Path file, String password) {
            this.keyStore = file;
            this.keyStorePassword = password;
            return this;
        }

        public Builder verifyHostname(boolean verify) {
            this.verifyHostname = verify;
            return this;
        }

        public Builder prefix(String prefix) {
            this.prefix = prefix == null ? "" : prefix;
            return this;
        }

        public Builder queueType(QueueType queueType) {
            this.queueType = Objects.requireNonNull(queueType, "queueType");
            return this;
        }

        public Builder prefetch(int prefetch) {
            this.prefetch = prefetch;
            return this;
        }

        public Builder maxPriority(int maxPriority) {
            this.maxPriority = maxPriority;
            return this;
        }

        public Builder confirmWindow(int confirmWindow) {
            this.confirmWindow = confirmWindow;
            return this;
        }

        public Builder publishTimeout(Duration publishTimeout) {
            this.publishTimeout = Objects.requireNonNull(publishTimeout, "publishTimeout");
            return this;
        }

        /** See {@link RabbitMqConfig#PUBLISH_MAX_BLOCK}. */
        public Builder publishMaxBlock(Duration maxBlock) {
            this.publishMaxBlock = Objects.requireNonNull(maxBlock, "maxBlock");
            return this;
        }

        public Builder mandatory(boolean mandatory) {
            this.mandatory = mandatory;
            return this;
        }

        public Builder deliveryLimit(int deliveryLimit) {
            this.deliveryLimit = deliveryLimit;
            return this;
        }

        public Builder shards(int shards) {
            this.shards = shards;
            return this;
        }

        /** See {@link RabbitMqConfig#KEY_ORDER}. */
        public Builder keyOrder(boolean keyOrder) {
            this.keyOrder = keyOrder;
            return this;
        }

        public Builder rebalanceInterval(Duration interval) {
            this.rebalanceInterval = Objects.requireNonNull(interval, "interval");
            return this;
        }

        public Builder recoveryInterval(Duration interval) {
            this.recoveryInterval = Objects.requireNonNull(interval, "interval");
            return this;
        }

        public Builder heartbeat(Duration heartbeat) {
            this.heartbeat = Objects.requireNonNull(heartbeat, "heartbeat");
            return this;
        }

        public Builder connectionTimeout(Duration timeout) {
            this.connectionTimeout = Objects.requireNonNull(timeout, "timeout");
            return this;
        }

        /**
         * Validates and builds.
         *
         * @throws ConfigException naming the key and the expected value
         */
        public RabbitMqConfig build() {
            AmqpUri u = uri == null ? AmqpUri.DEFAULT : AmqpUri.parse(uri);
            boolean uTls = u.tls();
            Integer uPort = u.port();
            boolean useTls = tls != null ? tls : uTls;
            int resolvedPort = port != null ? port : uPort != null ? uPort : useTls ? 5671 : 5672;
            if (resolvedPort < 1 || resolvedPort > 65535) {
                throw new ConfigException(PORT, Integer.toString(resolvedPort), "a port from 1 to 65535");
            }
            RabbitMqConfig.Builder b = this;
            b.tls = useTls;
            String h = host != null ? host : u.host();
            if (h.isBlank()) {
                throw new ConfigException(HOST, h, "a host name");
            }
            b.host = h;
            b.port = resolvedPort;
            b.username = username != null ? username : u.username();
            b.password = password != null ? password : u.password();
            b.virtualHost = virtualHost != null ? virtualHost : u.virtualHost();
            if (b.virtualHost.isEmpty()) {
                throw new ConfigException(VIRTUAL_HOST, "", "a virtual host name such as /");
            }
            if (trustStore != null && !Files.isReadable(trustStore)) {
                throw new ConfigException(TLS_TRUST_STORE, trustStore.toString(), "a readable PKCS12 or JKS file");
            }
            if (keyStore != null && !Files.isReadable(keyStore)) {
                throw new ConfigException(TLS_KEY_STORE, keyStore.toString(), "a readable PKCS12 or JKS file");
            }
            if ((trustStore != null || keyStore != null) && !useTls) {
                throw new ConfigException(TLS, "false", "true (or an amqps:// URI) when a TLS trust or key store is set");
            }
            if (prefetch < 1 || prefetch > 65535) {
                throw new ConfigException(PREFETCH, Integer.toString(prefetch), "an integer from 1 to 65535");
            }
            if (maxPriority < 0 || maxPriority > 255) {
                throw new ConfigException(MAX_PRIORITY, Integer.toString(maxPriority), "an integer from 0 to 255");
            }
            if (maxPriority > 0 && queueType == QueueType.QUORUM) {
                throw new ConfigException(MAX_PRIORITY, Integer.toString(maxPriority),
                        "0 while " + QUEUE_TYPE + "=quorum (quorum queues have no priorities in RabbitMQ 3.x); "
                                + "set " + QUEUE_TYPE + "=classic to use priorities");
            }
            if (confirmWindow < 1) {
                throw new ConfigException(CONFIRM_WINDOW, Integer.toString(confirmWindow), "a positive integer");
            }
            if (deliveryLimit < 1) {
                throw new ConfigException(DELIVERY_LIMIT, Integer.toString(deliveryLimit), "a positive integer");
            }
            if (shards < 1 || shards > 1024) {
                throw new ConfigException(SHARDS, Integer.toString(shards), "an integer from 1 to 1024");
            }
            if (publishTimeout.isNegative() || publishTimeout.isZero()) {
                throw new ConfigException(PUBLISH_TIMEOUT, publishTimeout.toString(), "a positive duration");
            }
            if (publishMaxBlock.isNegative() || publishMaxBlock.isZero()) {
                throw new ConfigException(PUBLISH_MAX_BLOCK, publishMaxBlock.toString(), "a positive duration");
            }
            if (connectionTimeout.isNegative() || connectionTimeout.isZero()) {
                throw new ConfigException(CONNECTION_TIMEOUT, connectionTimeout.toString(), "a positive duration");
            }
            if (heartbeat.isNegative()) {
                throw new ConfigException(HEARTBEAT, heartbeat.toString(), "zero (off) or a positive duration");
            }
            if (prefix.chars().anyMatch(Character::isWhitespace)) {
                throw new ConfigException(TOPOLOGY_PREFIX, prefix, "a prefix without spaces, e.g. prod.");
            }
            return new RabbitMqConfig(this);
        }
    }
}
