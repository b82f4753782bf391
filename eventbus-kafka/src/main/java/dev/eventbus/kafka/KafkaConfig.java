package dev.eventbus.kafka;

import dev.eventbus.ConfigException;
import dev.eventbus.spi.TransportContext;
import dev.eventbus.spi.TransportMessage;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;

import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * Settings of a {@link KafkaTransport}: the library's own keys (constants below, all spelled with hyphens) and
 * every other {@code eventbus.kafka.<client key>}, which passes through to the Kafka producer, consumer and
 * admin client (for example {@code eventbus.kafka.bootstrap.servers}, {@code eventbus.kafka.security.protocol},
 * {@code eventbus.kafka.sasl.jaas.config}, {@code eventbus.kafka.ssl.truststore.location}).
 *
 * <h2>Pass-through</h2>
 * A client key goes to each client that knows it (a producer-only key such as {@code linger.ms} goes to the
 * producer only); a key no client knows (a plug-in's own setting) goes to all three. To set a key for one
 * client only, prefix it: {@code eventbus.kafka.producer.<key>}, {@code eventbus.kafka.consumer.<key>},
 * {@code eventbus.kafka.admin.<key>} (these win over the unprefixed form).
 *
 * <p>Keys the transport owns are refused with a {@link ConfigException} instead of being silently ignored:
 * serializers and deserializers (records are bytes), {@code enable.auto.commit} (offsets are committed only
 * after an outcome is decided), {@code group.id} (the subscription's group is the Kafka group) and
 * {@code transactional.id} (use {@link #TRANSACTIONAL_ID}).
 *
 * <h2>Safe defaults</h2>
 * Producer: {@code acks=all}, {@code enable.idempotence=true}, {@code compression.type=lz4},
 * {@code linger.ms=5}, {@code batch.size=65536}. Consumer: {@code isolation.level=read_committed},
 * {@code auto.offset.reset=earliest} (a named group never misses what was published before its first
 * member joined), {@code partition.assignment.strategy=CooperativeStickyAssignor} (a rebalance only stops the
 * partitions that move), {@code allow.auto.create.topics=false} (see {@link #CREATE_TOPICS}),
 * {@code session.timeout.ms=10000} and {@code heartbeat.interval.ms=1000} (a crashed member's partitions move after
 * about 10 s instead of the client's 45 s; a process frozen for longer than that loses its partitions).
 * Producer {@code delivery.timeout.ms} and {@code max.block.ms} follow {@link #PUBLISH_TIMEOUT}. Admin client:
 * {@code metadata.recovery.strategy=none} (its rebootstrapping floods the log while no broker answers). Every
 * default can be overridden by setting the key.
 *
 * <h2>Accepted keys</h2>
 * {@link #accepts(String)} (used by {@link KafkaTransportProvider#acceptsKey}) is true for the transport's own keys
 * and for keys the Kafka clients define; a bus built from configuration refuses any other key under
 * {@value #PREFIX}. Code may pass a plug-in's own setting with {@link Builder#set(String, Object)}: a key no client
 * knows goes to all three clients.
 *
 * <h2>Errors</h2>
 * {@link #from(TransportContext)}, {@link #from(String, Map)} and {@link Builder#build()} validate everything,
 * client keys included (against the Kafka clients' own definitions), and throw a {@link ConfigException} that
 * names the {@code eventbus.kafka.*} key and what is allowed. Values of secret keys (passwords, JAAS
 * configs, ...) never appear in messages or in {@link #toString()}.
 *
 * <p>Immutable and thread-safe.
 */
public final class KafkaConfig {

    /** Prefix of every key this transport reads. */
    public static final String PREFIX = "eventbus.kafka.";

    /** The Kafka brokers to connect to, {@code host:port[,host:port...]}. Required. Passes through to every client. */
    public static final String BOOTSTRAP_SERVERS = "eventbus.kafka.bootstrap.servers";

    /** Prefix put before every stream name to make the topic name, e.g. {@code prod.}. Default: none. */
    public static final String TOPIC_PREFIX = "eventbus.kafka.topic-prefix";

    /**
     * Whether missing topics (streams, retry and dead-letter topics) are created, {@code true} or {@code false}.
     * Default {@code true}. When {@code false}, sending to or subscribing to a missing topic fails naming it.
     */
    public static final String CREATE_TOPICS = "eventbus.kafka.create-topics";

    /** Partitions of topics this transport creates, 1 to 10000. Default 3. */
    public static final String PARTITIONS = "eventbus.kafka.partitions";

    /**
     * Replication factor of topics this transport creates, 1 to 32767, or {@code -1} for the broker's
     * {@code default.replication.factor}. Default {@code -1}.
     */
    public static final String REPLICATION_FACTOR = "eventbus.kafka.replication-factor";

    /**
     * When set, {@link KafkaTransport#sendBatch} sends a batch in one Kafka transaction with this
     * {@code transactional.id} (all records visible together or none), and the transport declares
     * {@link dev.eventbus.spi.Capability#TRANSACTIONAL_BATCH}. Must be unique per running application instance:
     * two producers with one id fence each other. Single sends stay non-transactional (idempotent). Default: unset.
     */
    public static final String TRANSACTIONAL_ID = "eventbus.kafka.transactional-id";

    /**
     * CloudEvents Kafka protocol binding content mode for sent records: {@code binary} (attributes in {@code ce_*}
     * headers, the event as the record value) or {@code structured} (one JSON CloudEvent as the record value,
     * content type {@code application/cloudevents+json}). Default {@code binary}. Both modes are read whatever
     * this says.
     */
    public static final String BINDING_MODE = "eventbus.kafka.binding-mode";

    /**
     * How a {@code RETRY} outcome waits: {@code true} sends the record to the group's retry topic with a due-time
     * header, so the wait survives a restart and the original offset can be committed; {@code false} keeps the
     * record in memory until it is due and holds back the partition's commit (no extra topic, but a crash or
     * rebalance redelivers from the held-back offset). Either way the other records keep flowing. Default
     * {@code true}.
     */
    public static final String RETRY_TOPICS = "eventbus.kafka.retry-topics";

    /**
     * Name of a group's retry topic; {@code {topic}} is replaced by the (prefixed) topic and {@code {group}} by
     * the consumer group (characters Kafka does not allow in topic names become {@code _}). Default
     * {@code {topic}.{group}.retry}.
     */
    public static final String RETRY_TOPIC_NAME = "eventbus.kafka.retry-topic-name";

    /**
     * Name of a topic's dead-letter topic; {@code {topic}} is replaced by the (prefixed) topic. Shared by every
     * group of that topic (the {@code eventbus-dlq-group} header says which group gave up). Default
     * {@code {topic}.DLT}.
     */
    public static final String DEAD_LETTER_TOPIC_NAME = "eventbus.kafka.dead-letter-topic-name";

    /**
     * Take the record key from this message header (e.g. {@code correlationid}) instead of the message key
     * (the event's subject). A message without the header gets a null key. Default: unset (use the message key).
     * In code, {@link Builder#keyExtractor(Function)} does the same with any function.
     */
    public static final String KEY_HEADER = "eventbus.kafka.key-header";

    /**
     * Records of one partition a subscription may hold undecided (queued, running, waiting for a retry) before
     * it pauses fetching from that partition, 1 to 1000000. Bounds memory. Default: ten polls' worth, 10 x the
     * consumer's {@code max.poll.records} (5000 with the client's default of 500), and at least 1000.
     */
    public static final String MAX_PENDING_PER_PARTITION = "eventbus.kafka.max-pending-per-partition";

    /** How often a subscription commits the offsets of decided records, e.g. {@code 100ms}. Default {@code 100ms}. */
    public static final String COMMIT_INTERVAL = "eventbus.kafka.commit-interval";

    /**
     * How long a subscription waits, when partitions are taken away from it by a rebalance, for the handlers of
     * those partitions that are running, before committing and letting go. Default {@code 10s}.
     */
    public static final String REVOKE_TIMEOUT = "eventbus.kafka.revoke-timeout";

    /** How long topic look-ups and creation may take before a send or subscribe fails. Default {@code 30s}. */
    public static final String TOPIC_TIMEOUT = "eventbus.kafka.topic-timeout";

    /**
     * How long {@link KafkaTransport#create} (and so building a bus) waits for the brokers to answer before it
     * fails with one error naming {@link #BOOTSTRAP_SERVERS}, e.g. {@code 10s}; {@code 0} skips the check (the
     * transport then connects on first use). Default {@code 10s}.
     */
    public static final String CONNECT_TIMEOUT = "eventbus.kafka.connect-timeout";

    /**
     * The longest a publish takes to fail while the brokers cannot be reached: the send's future fails after at
     * most this ({@code delivery.timeout.ms}), and the publishing thread blocks at most this ({@code max.block.ms},
     * only while the topic's metadata is unknown or the producer's buffer is full). Default {@code 30s} (the
     * client's own default is 120 s). Setting {@code delivery.timeout.ms} or {@code max.block.ms} directly wins.
     */
    public static final String PUBLISH_TIMEOUT = "eventbus.kafka.publish-timeout";

    /** Prefix for keys passed to the producer only: {@code eventbus.kafka.producer.linger.ms=20}. */
    public static final String PRODUCER_PREFIX = "eventbus.kafka.producer.";
    /** Prefix for keys passed to the consumers only: {@code eventbus.kafka.consumer.max.poll.records=1000}. */
    public static final String CONSUMER_PREFIX = "eventbus.kafka.consumer.";
    /** Prefix for keys passed to the admin client only. */
    public static final String ADMIN_PREFIX = "eventbus.kafka.admin.";

    /** The CloudEvents content modes of {@link #BINDING_MODE}. */
    public enum BindingMode {
        /** CloudEvents attributes in {@code ce_*} headers; the record value is the event data. */
        BINARY,
        /** The record value is a JSON CloudEvent ({@code application/cloudevents+json}). */
        STRUCTURED
    }

    private static final Map<String, String> DOCS;

    static {
        Map<String, String> d = new LinkedHashMap<>();
        d.put(TOPIC_PREFIX, "prefix put before every stream name to make the topic name (default: none)");
        d.put(CREATE_TOPICS, "create missing topics, true or false (default: true)");
        d.put(PARTITIONS, "partitions of created topics (default: 3)");
        d.put(REPLICATION_FACTOR, "replication factor of created topics, -1 for the broker default (default: -1)");
        d.put(TRANSACTIONAL_ID, "transactional.id for all-or-nothing batches (default: unset)");
        d.put(BINDING_MODE, "CloudEvents content mode written: binary or structured (default: binary)");
        d.put(RETRY_TOPICS, "delayed retries through a retry topic (true) or in memory (false) (default: true)");
        d.put(RETRY_TOPIC_NAME, "retry topic name pattern (default: {topic}.{group}.retry)");
        d.put(DEAD_LETTER_TOPIC_NAME, "dead-letter topic name pattern (default: {topic}.DLT)");
        d.put(KEY_HEADER, "message header to take the record key from (default: the event's key)");
        d.put(MAX_PENDING_PER_PARTITION, "undecided records per partition before it is paused "
                + "(default: 10 x max.poll.records, at least 1000)");
        d.put(COMMIT_INTERVAL, "how often decided offsets are committed (default: 100ms)");
        d.put(REVOKE_TIMEOUT, "wait for running handlers of revoked partitions (default: 10s)");
        d.put(TOPIC_TIMEOUT, "topic look-up and creation timeout (default: 30s)");
        d.put(CONNECT_TIMEOUT, "wait for the brokers when the transport starts; 0 = do not check (default: 10s)");
        d.put(PUBLISH_TIMEOUT, "a publish fails after this while the brokers cannot be reached (default: 30s)");
        DOCS = Collections.unmodifiableMap(d);
    }

    private static final Set<String> OWN_KEYS = DOCS.keySet();

    private static final Pattern LEGAL_TOPIC = Pattern.compile("[a-zA-Z0-9._-]+");
    private static final Pattern ILLEGAL_TOPIC_CHARS = Pattern.compile("[^a-zA-Z0-9._-]");

    private final String serviceName;
    private final Map<String, String> raw;
    private final String topicPrefix;
    private final boolean createTopics;
    private final int partitions;
    private final short replicationFactor;
    private final String transactionalId;
    private final BindingMode bindingMode;
    private final boolean retryTopics;
    private final String retryTopicName;
    private final String deadLetterTopicName;
    private final Function<TransportMessage, String> keyExtractor;
    private final String keyHeader;
    private final int maxPendingPerPartition;
    private final Duration commitInterval;
    private final Duration revokeTimeout;
    private final Duration topicTimeout;
    private final Duration connectTimeout;
    private final Duration publishTimeout;
    private final Map<String, Object> producer;
    private final Map<String, Object> consumer;
    private final Map<String, Object> admin;

    private KafkaConfig(String serviceName, Map<String, String> properties, Function<TransportMessage, String> extractor) {
        this.serviceName = requireServiceName(serviceName);
        TransportContext ctx = new TransportContext(this.serviceName, properties);
        Map<String, String> all = new TreeMap<>();
        ctx.withPrefix(PREFIX).forEach((k, v) -> {
            if (v != null && !v.isBlank()) {
                all.put(PREFIX + k, v.trim());
            }
        });
        this.raw = Collections.unmodifiableMap(all);

        ctx.require(BOOTSTRAP_SERVERS, "host:port[,host:port...] of the Kafka brokers");
        this.topicPrefix = ctx.get(TOPIC_PREFIX, "");
        if (!topicPrefix.isEmpty() && !LEGAL_TOPIC.matcher(topicPrefix).matches()) {
            throw new ConfigException(TOPIC_PREFIX, topicPrefix, "letters, digits, '.', '_' or '-' only");
        }
        this.createTopics = ctx.getBoolean(CREATE_TOPICS, true);
        this.partitions = ctx.getInt(PARTITIONS, 3, 1, 10_000);
        int rf = ctx.getInt(REPLICATION_FACTOR, -1, -1, Short.MAX_VALUE);
        if (rf == 0) {
            throw new ConfigException(REPLICATION_FACTOR, "0", "-1 (broker default) or an integer from 1 to 32767");
        }
        this.replicationFactor = (short) rf;
        this.transactionalId = ctx.get(TRANSACTIONAL_ID);
        this.bindingMode = ctx.getEnum(BINDING_MODE, BindingMode.class, BindingMode.BINARY);
        this.retryTopics = ctx.getBoolean(RETRY_TOPICS, true);
        this.retryTopicName = pattern(ctx, RETRY_TOPIC_NAME, "{topic}.{group}.retry", true);
        this.deadLetterTopicName = pattern(ctx, DEAD_LETTER_TOPIC_NAME, "{topic}.DLT", false);
        this.keyHeader = ctx.get(KEY_HEADER);
        if (extractor != null && keyHeader != null) {
            throw new ConfigException(KEY_HEADER, keyHeader, "unset when a key extractor is given in code");
        }
        this.keyExtractor = extractor != null ? extractor
                : keyHeader != null ? m -> m.header(keyHeader) : TransportMessage::key;
        this.commitInterval = positive(ctx, COMMIT_INTERVAL, Duration.ofMillis(100));
        this.revokeTimeout = positive(ctx, REVOKE_TIMEOUT, Duration.ofSeconds(10));
        this.topicTimeout = positive(ctx, TOPIC_TIMEOUT, Duration.ofSeconds(30));
        this.connectTimeout = "0".equals(ctx.get(CONNECT_TIMEOUT)) ? Duration.ZERO
                : ctx.getDuration(CONNECT_TIMEOUT, Duration.ofSeconds(10));
        if (connectTimeout.isNegative()) {
            throw new ConfigException(CONNECT_TIMEOUT, ctx.get(CONNECT_TIMEOUT), "a duration such as 10s, or 0 to skip");
        }
        this.publishTimeout = positive(ctx, PUBLISH_TIMEOUT, Duration.ofSeconds(30));

        for (String key : all.keySet()) {
            String rest = key.substring(PREFIX.length());
            if (!OWN_KEYS.contains(key) && rest.indexOf('-') >= 0 && !rest.startsWith("producer.")
                    && !rest.startsWith("consumer.") && !rest.startsWith("admin.")) {
                throw new ConfigException(key, "Unknown configuration '" + key + "': this transport's own keys are "
                        + new TreeSet<>(OWN_KEYS) + ", and Kafka client keys contain no '-'", (Throwable) null);
            }
        }

        ClientProperties clients = new ClientProperties(all, OWN_KEYS, transactionalId, publishTimeout);
        this.producer = clients.producer;
        this.consumer = clients.consumer;
        this.admin = clients.admin;
        // A partition's poll may return max.poll.records at once; a bound below a few polls' worth paused the
        // partition after nearly every poll (consume benchmark with max.poll.records 2000 and the old fixed
        // 1000: a pause and a resume per poll, a quarter of the polls empty, workers idle between them; a
        // paused partition is not fetched). Ten polls' worth let the transport alone run 1.5-2x faster.
        this.maxPendingPerPartition = ctx.getInt(MAX_PENDING_PER_PARTITION, defaultMaxPending(consumer), 1, 1_000_000);
    }

    private static int defaultMaxPending(Map<String, Object> consumer) {
        Object v = consumer.get(ConsumerConfig.MAX_POLL_RECORDS_CONFIG);
        int maxPoll = 500; // the client's default
        if (v != null) {
            try {
                maxPoll = Integer.parseInt(String.valueOf(v).trim());
            } catch (NumberFormatException e) {
                // validated above; keep the client's default
            }
        }
        return (int) Math.min(1_000_000, Math.max(1000L, 10L * maxPoll));
    }

    /**
     * Reads the configuration a bus hands to its transport provider.
     *
     * @throws ConfigException naming the key and the expected value when something is missing or invalid
     */
    public static KafkaConfig from(TransportContext context) {
        Objects.requireNonNull(context, "context");
        return new KafkaConfig(context.serviceName(), context.properties(), null);
    }

    /**
     * Reads the configuration from full keys ({@code eventbus.kafka.bootstrap.servers=...}); keys not starting
     * with {@value #PREFIX} are ignored.
     *
     * @param serviceName the bus's service name (client ids, default group)
     * @throws ConfigException naming the key and the expected value when something is missing or invalid
     */
    public static KafkaConfig from(String serviceName, Map<String, String> properties) {
        Objects.requireNonNull(properties, "properties");
        return new KafkaConfig(serviceName, properties, null);
    }

    /**
     * This transport's own keys (not the pass-through client keys) with a one-line description each, in a stable
     * order.
     */
    public static Map<String, String> documentation() {
        return DOCS;
    }

    /** A builder for configuring in code. */
    public static Builder builder() {
        return new Builder();
    }

    /** The bus's service name. */
    public String serviceName() {
        return serviceName;
    }

    /** The topic a stream travels on: {@link #TOPIC_PREFIX} + stream. */
    public String topic(String stream) {
        return topicPrefix.isEmpty() ? stream : topicPrefix + stream;
    }

    /** The stream a topic carries, or the topic itself when it lacks the prefix. */
    public String stream(String topic) {
        return !topicPrefix.isEmpty() && topic.startsWith(topicPrefix) ? topic.substring(topicPrefix.length()) : topic;
    }

    public String topicPrefix() {
        return topicPrefix;
    }

    public boolean createTopics() {
        return createTopics;
    }

    public int partitions() {
        return partitions;
    }

    /** The replication factor for created topics; -1 means the broker's default. */
    public short replicationFactor() {
        return replicationFactor;
    }

    /** The transactional id for batches, or null when batches are not transactional. */
    public String transactionalId() {
        return transactionalId;
    }

    public BindingMode bindingMode() {
        return bindingMode;
    }

    /** Whether RETRY outcomes go through a retry topic (true) or wait in memory (false). */
    public boolean retryTopics() {
        return retryTopics;
    }

    /** The retry topic of {@code group} on {@code topic}. */
    public String retryTopic(String topic, String group) {
        return legalTopic(retryTopicName.replace("{topic}", topic).replace("{group}", group));
    }

    /** The dead-letter topic of {@code topic}. */
    public String deadLetterTopic(String topic) {
        return legalTopic(deadLetterTopicName.replace("{topic}", topic));
    }

    /** True when {@code topic} is named like a dead-letter topic of this configuration. */
    public boolean isDeadLetterTopic(String topic) {
        int at = deadLetterTopicName.indexOf("{topic}");
        String before = deadLetterTopicName.substring(0, at);
        String after = deadLetterTopicName.substring(at + "{topic}".length());
        return topic.length() > before.length() + after.length() && topic.startsWith(before) && topic.endsWith(after)
                && topic.startsWith(topicPrefix, before.length());
    }

    /** The record key of a message: the message key, or what {@link #KEY_HEADER} / the key extractor says. */
    public String recordKey(TransportMessage message) {
        return keyExtractor.apply(message);
    }

    public int maxPendingPerPartition() {
        return maxPendingPerPartition;
    }

    public Duration commitInterval() {
        return commitInterval;
    }

    public Duration revokeTimeout() {
        return revokeTimeout;
    }

    public Duration topicTimeout() {
        return topicTimeout;
    }

    /** How long creating the transport waits for the brokers; zero when it does not check. */
    public Duration connectTimeout() {
        return connectTimeout;
    }

    /** The bound on a publish while the brokers cannot be reached ({@link #PUBLISH_TIMEOUT}). */
    public Duration publishTimeout() {
        return publishTimeout;
    }

    /**
     * Whether {@code key} is one this transport reads: one of its own keys ({@link #documentation()}),
     * {@link #BOOTSTRAP_SERVERS}, or a Kafka producer, consumer or admin client key, unprefixed or prefixed with
     * {@code producer.}, {@code consumer.} or {@code admin.}. Keys outside {@value #PREFIX} are not this
     * transport's and are not accepted.
     */
    public static boolean accepts(String key) {
        if (key == null || !key.startsWith(PREFIX)) {
            return false;
        }
        return OWN_KEYS.contains(key) || ClientProperties.isClientKey(key.substring(PREFIX.length()));
    }

    /** The {@code bootstrap.servers} value. */
    public String bootstrapServers() {
        return raw.get(BOOTSTRAP_SERVERS);
    }

    /**
     * The effective producer configuration (defaults, pass-through keys, serializers), without
     * {@code transactional.id}. A copy; it may hold credentials, so do not log it.
     */
    public Map<String, Object> producerProperties() {
        return new LinkedHashMap<>(producer);
    }

    /** The effective consumer configuration for {@code group}. A copy; it may hold credentials. */
    public Map<String, Object> consumerProperties(String group) {
        Map<String, Object> c = new LinkedHashMap<>(consumer);
        c.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        return c;
    }

    /** The effective admin client configuration. A copy; it may hold credentials. */
    public Map<String, Object> adminProperties() {
        return new LinkedHashMap<>(admin);
    }

    /** Every {@code eventbus.kafka.*} setting given, with secret values masked. */
    @Override
    public String toString() {
        Map<String, String> shown = new TreeMap<>();
        raw.forEach((k, v) -> shown.put(k, ConfigException.isSecret(k) ? "****" : v));
        return "KafkaConfig{service=" + serviceName + ", " + shown + '}';
    }

    private static String requireServiceName(String serviceName) {
        if (serviceName == null || serviceName.isBlank()) {
            throw new ConfigException("eventbus.service", serviceName, "a non-blank service name");
        }
        return serviceName.trim();
    }

    private static String legalTopic(String name) {
        String legal = ILLEGAL_TOPIC_CHARS.matcher(name).replaceAll("_");
        if (legal.length() > 249) {
            String hash = Integer.toHexString(name.hashCode());
            legal = legal.substring(0, 249 - hash.length() - 1) + "_" + hash;
        }
        return legal;
    }

    private static String pattern(TransportContext ctx, String key, String def, boolean needsGroup) {
        String v = ctx.get(key, def);
        String expected = needsGroup ? "a topic name containing {topic} and {group}" : "a topic name containing {topic}";
        if (!v.contains("{topic}") || (needsGroup && !v.contains("{group}"))) {
            throw new ConfigException(key, v, expected);
        }
        if (!LEGAL_TOPIC.matcher(v.replace("{topic}", "t").replace("{group}", "g")).matches()) {
            throw new ConfigException(key, v, expected + " and otherwise only letters, digits, '.', '_' or '-'");
        }
        return v;
    }

    private static Duration positive(TransportContext ctx, String key, Duration def) {
        Duration d = ctx.getDuration(key, def);
        if (d.isNegative() || d.isZero()) {
            throw new ConfigException(key, ctx.get(key), "a positive duration such as 250ms, 5s or PT1M");
        }
        return d;
    }

    /**
     * Builds a {@link KafkaConfig} in code. Each {@link #set} takes a full key ({@code eventbus.kafka.linger.ms})
     * or a short one ({@code linger.ms}, prefixed for you). Not thread-safe; build once.
     */
    public static final class Builder {
        private String serviceName = "eventbus";
        private final Map<String, String> properties = new LinkedHashMap<>();
        private Function<TransportMessage, String> keyExtractor;

        private Builder() {
        }

        /** The service name (client ids, CloudEvents source of the bus). Default {@code eventbus}. */
        public Builder serviceName(String name) {
            this.serviceName = Objects.requireNonNull(name, "name");
            return this;
        }

        /** {@link KafkaConfig#BOOTSTRAP_SERVERS}. */
        public Builder bootstrapServers(String servers) {
            return set(BOOTSTRAP_SERVERS, servers);
        }

        /** Sets one key; see the class javadoc of {@link KafkaConfig}. */
        public Builder set(String key, Object value) {
            Objects.requireNonNull(key, "key");
            Objects.requireNonNull(value, "value");
            properties.put(key.startsWith(PREFIX) ? key : PREFIX + key, String.valueOf(value));
            return this;
        }

        /** Sets every {@code eventbus.kafka.*} key of {@code props}; other keys are ignored. */
        public Builder setAll(Map<String, String> props) {
            props.forEach((k, v) -> {
                if (k.startsWith(PREFIX)) {
                    set(k, v);
                }
            });
            return this;
        }

        /**
         * Computes the record key from the message (default: {@link TransportMessage#key()}, the event's
         * subject). Called on the sending thread; must be fast, thread-safe and must not throw.
         */
        public Builder keyExtractor(Function<TransportMessage, String> extractor) {
            this.keyExtractor = Objects.requireNonNull(extractor, "extractor");
            return this;
        }

        /**
         * @throws ConfigException naming the key and the expected value when something is missing or invalid
         */
        public KafkaConfig build() {
            return new KafkaConfig(serviceName, properties, keyExtractor);
        }
    }
}
