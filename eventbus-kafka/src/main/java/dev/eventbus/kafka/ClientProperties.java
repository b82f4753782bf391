package dev.eventbus.kafka;

import dev.eventbus.ConfigException;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import static dev.eventbus.kafka.KafkaConfig.ADMIN_PREFIX;
import static dev.eventbus.kafka.KafkaConfig.BOOTSTRAP_SERVERS;
import static dev.eventbus.kafka.KafkaConfig.CONSUMER_PREFIX;
import static dev.eventbus.kafka.KafkaConfig.PREFIX;
import static dev.eventbus.kafka.KafkaConfig.PRODUCER_PREFIX;
import static dev.eventbus.kafka.KafkaConfig.TRANSACTIONAL_ID;

/**
 * The pass-through half of {@link KafkaConfig}: the producer, consumer and admin client properties made of the
 * transport's defaults, the user's {@code eventbus.kafka.<client key>} settings (unprefixed ones to each client
 * that knows them, {@code producer.}/{@code consumer.}/{@code admin.} ones to one client) and the settings the
 * transport owns, checked against the clients' own definitions. Immutable.
 */
final class ClientProperties {

    /** Client keys the transport sets itself, with what to do instead. */
    private static final Map<String, String> OWNED = Map.of(
            "key.serializer", "the transport writes keys and values as bytes; remove it",
            "value.serializer", "the transport writes keys and values as bytes; remove it",
            "key.deserializer", "the transport reads keys and values as bytes; remove it",
            "value.deserializer", "the transport reads keys and values as bytes; remove it",
            "enable.auto.commit", "the transport commits offsets itself once an outcome is decided; remove it",
            "group.id", "the subscription's group is the Kafka consumer group; remove it",
            "transactional.id", "set " + TRANSACTIONAL_ID + " instead (batches only; single sends stay idempotent)");

    /**
     * How long the group waits for a member that stopped heartbeating (crashed, kill -9, network cut) before its
     * partitions go to the others. The client's 45 s left a crashed instance's keys unhandled for 45 s; 10 s is
     * the value the client had before 3.0. Heartbeats come from the client's own thread, never from handlers.
     */
    static final int SESSION_TIMEOUT_MS = 10_000;
    /** Members learn of a rebalance on their next heartbeat: a tenth of the session timeout. */
    static final int HEARTBEAT_INTERVAL_MS = 1_000;

    final Map<String, Object> producer;
    final Map<String, Object> consumer;
    final Map<String, Object> admin;

    /**
     * @param all every {@code eventbus.kafka.*} setting given, full keys, trimmed; the transport's own keys included
     * @param ownKeys the transport's own keys, which are not passed through
     */
    ClientProperties(Map<String, String> all, Set<String> ownKeys, String transactionalId, Duration publishTimeout) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "65536");
        Map<String, Object> c = new LinkedHashMap<>();
        c.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        c.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        c.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
        c.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false"); // topics are created with our settings, or not
        c.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, Integer.toString(SESSION_TIMEOUT_MS));
        c.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, Integer.toString(HEARTBEAT_INTERVAL_MS));
        Map<String, Object> a = new LinkedHashMap<>();
        // With every broker unreachable, the 4.x admin client "rebootstraps" in a tight loop (tens of thousands of
        // INFO lines a minute); it only looks topics up, so it keeps the brokers it knows instead.
        a.put(AdminClientConfig.METADATA_RECOVERY_STRATEGY_CONFIG, "none");

        Set<String> producerKeys = ProducerConfig.configNames();
        Set<String> consumerKeys = ConsumerConfig.configNames();
        Set<String> adminKeys = AdminClientConfig.configNames();
        // Unprefixed keys first, so the client-specific prefixes win.
        for (Map.Entry<String, String> e : all.entrySet()) {
            String key = e.getKey();
            if (ownKeys.contains(key)) {
                continue;
            }
            String rest = key.substring(PREFIX.length());
            if (rest.startsWith("producer.") || rest.startsWith("consumer.") || rest.startsWith("admin.")) {
                continue;
            }
            refuseOwned(key, rest);
            boolean known = producerKeys.contains(rest) || consumerKeys.contains(rest) || adminKeys.contains(rest);
            if (!known || producerKeys.contains(rest)) {
                p.put(rest, e.getValue());
            }
            if (!known || consumerKeys.contains(rest)) {
                c.put(rest, e.getValue());
            }
            if (!known || adminKeys.contains(rest)) {
                a.put(rest, e.getValue());
            }
        }
        for (Map.Entry<String, String> e : all.entrySet()) {
            String key = e.getKey();
            if (key.startsWith(PRODUCER_PREFIX)) {
                p.put(refuseOwned(key, key.substring(PRODUCER_PREFIX.length())), e.getValue());
            } else if (key.startsWith(CONSUMER_PREFIX)) {
                c.put(refuseOwned(key, key.substring(CONSUMER_PREFIX.length())), e.getValue());
            } else if (key.startsWith(ADMIN_PREFIX)) {
                a.put(refuseOwned(key, key.substring(ADMIN_PREFIX.length())), e.getValue());
            }
        }
        boundPublishing(p, publishTimeout);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        c.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        c.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        c.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        if ("false".equalsIgnoreCase(String.valueOf(p.get(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG)))
                && transactionalId != null) {
            throw new ConfigException(TRANSACTIONAL_ID, transactionalId,
                    "unset, or enable.idempotence left on (transactions need the idempotent producer)");
        }

        validate(ProducerConfig.configDef(), p, PRODUCER_PREFIX, all);
        Map<String, Object> consumerCheck = new LinkedHashMap<>(c);
        consumerCheck.put(ConsumerConfig.GROUP_ID_CONFIG, "validation");
        validate(ConsumerConfig.configDef(), consumerCheck, CONSUMER_PREFIX, all);
        validate(AdminClientConfig.configDef(), a, ADMIN_PREFIX, all);

        this.producer = Collections.unmodifiableMap(p);
        this.consumer = Collections.unmodifiableMap(c);
        this.admin = Collections.unmodifiableMap(a);
    }

    /**
     * Whether {@code rest} (a key without {@code eventbus.kafka.}) is a Kafka client key the transport passes
     * through: a producer, consumer or admin client setting, unprefixed or with its client's prefix.
     */
    static boolean isClientKey(String rest) {
        if (rest.startsWith("producer.")) {
            return ProducerConfig.configNames().contains(rest.substring("producer.".length()));
        }
        if (rest.startsWith("consumer.")) {
            return ConsumerConfig.configNames().contains(rest.substring("consumer.".length()));
        }
        if (rest.startsWith("admin.")) {
            return AdminClientConfig.configNames().contains(rest.substring("admin.".length()));
        }
        return ProducerConfig.configNames().contains(rest) || ConsumerConfig.configNames().contains(rest)
                || AdminClientConfig.configNames().contains(rest);
    }

    /**
     * A publish during a broker outage fails within {@code publishTimeout}: {@code delivery.timeout.ms} (the future)
     * and {@code max.block.ms} (the caller, while the topic's metadata is unknown or the buffer is full), unless the
     * user set them. {@code delivery.timeout.ms} must be at least {@code linger.ms + request.timeout.ms}, so the
     * request timeout is lowered to fit when it was not set either.
     */
    private static void boundPublishing(Map<String, Object> p, Duration publishTimeout) {
        long ms = Math.min(Integer.MAX_VALUE, publishTimeout.toMillis());
        p.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.toString(ms));
        long linger = parse(p.get(ProducerConfig.LINGER_MS_CONFIG), 5);
        boolean userDelivery = p.containsKey(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG);
        if (p.containsKey(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG)) {
            if (!userDelivery) {
                long request = parse(p.get(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG), 30_000);
                p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Long.toString(Math.max(ms, linger + request)));
            }
            return;
        }
        long delivery = userDelivery ? parse(p.get(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG), ms) : ms;
        p.putIfAbsent(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Long.toString(delivery));
        long request = Math.min(30_000, delivery - linger);
        if (request > 0) {
            p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(request));
        }
    }

    private static long parse(Object v, long def) {
        try {
            return v == null ? def : Long.parseLong(String.valueOf(v).trim());
        } catch (NumberFormatException e) {
            return def; // validated below, naming the key
        }
    }

    private static String refuseOwned(String fullKey, String clientKey) {
        String instead = OWNED.get(clientKey);
        if (instead != null) {
            throw new ConfigException(fullKey, "'" + fullKey + "' is set by the transport itself: " + instead,
                    (Throwable) null);
        }
        return clientKey;
    }

    /** Checks values against the client's own definitions, so a bad value fails now and names our key. */
    private static void validate(ConfigDef def, Map<String, Object> props, String rolePrefix, Map<String, String> given) {
        try {
            def.parse(props);
        } catch (org.apache.kafka.common.config.ConfigException e) {
            String msg = String.valueOf(e.getMessage());
            String culprit = null;
            for (String clientKey : props.keySet()) {
                if (msg.contains(clientKey) && (culprit == null || clientKey.length() > culprit.length())) {
                    culprit = clientKey;
                }
            }
            String key = culprit == null ? BOOTSTRAP_SERVERS
                    : given.containsKey(rolePrefix + culprit) ? rolePrefix + culprit : PREFIX + culprit;
            String shown = culprit != null && ConfigException.isSecret(culprit)
                    ? "invalid value (hidden, the key holds a secret)" : msg;
            throw new ConfigException(key, "Invalid configuration '" + key + "': " + shown, (Throwable) null);
        }
    }
}
