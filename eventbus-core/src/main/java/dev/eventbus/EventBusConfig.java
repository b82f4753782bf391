package dev.eventbus;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The configuration keys of the bus itself, each with what it means and its default. Transport modules define
 * their own ({@code eventbus.kafka.*}, {@code eventbus.rabbitmq.*}, {@code eventbus.jdbc.*}).
 *
 * <p>{@link EventBus#fromConfig()} reads them from, in increasing precedence: {@code eventbus.properties} on the
 * classpath, then system properties, then environment variables ({@code EVENTBUS_RETRY_MAX_ATTEMPTS} for
 * {@code eventbus.retry.max-attempts}: upper case, dots and dashes as underscores). A setting made in code on
 * {@link EventBus.Builder} wins over all of them. Every {@code eventbus.*} key must be one of these, a route, or
 * a key the transport named by its namespace accepts ({@code eventbus.kafka.*}: see
 * {@link dev.eventbus.spi.TransportProvider#acceptsKey}); any other key, or a value the bus cannot use, fails
 * {@code build()} with a {@link ConfigException} naming the key, what is allowed and the nearest allowed key. An
 * {@code EVENTBUS_*} environment variable that no key reads is logged at WARN and ignored.
 *
 * <p>Constants only; thread-safe.
 */
public final class EventBusConfig {

    private EventBusConfig() {
    }

    /** The service name: CloudEvents {@code source}, default consumer group, connection names. Default {@code eventbus}. */
    public static final String SERVICE = "eventbus.service";
    /**
     * CloudEvents {@code source} of the events this bus publishes: a URI-reference (RFC 3986), an absolute one
     * recommended, e.g. {@code urn:example:orders} or {@code https://example.com/orders}. Checked at build time.
     * Default {@code urn:eventbus:<service>}, the service name percent-encoded (every character but ASCII letters,
     * digits and {@code -._~}), so {@code order service} gives {@code urn:eventbus:order%20service}.
     */
    public static final String SOURCE = "eventbus.source";
    /** The default transport by name: {@code memory} (default), {@code kafka}, {@code rabbitmq}, {@code jdbc}. */
    public static final String TRANSPORT = "eventbus.transport";
    /** The stream of event types without {@code @EventType(stream)}. Default {@code events}. */
    public static final String DEFAULT_STREAM = "eventbus.default-stream";
    /** {@code sync} (default) or {@code async}: how events published to the in-memory transport reach local subscribers. */
    public static final String DISPATCH = "eventbus.dispatch";
    /** Worker threads for async dispatch. Default: the number of processors. */
    public static final String DISPATCH_THREADS = "eventbus.dispatch.threads";
    /** Events async dispatch may hold queued, in total. Default 65536. */
    public static final String DISPATCH_QUEUE_CAPACITY = "eventbus.dispatch.queue-capacity";
    /** {@code block} (default), {@code caller-runs} or {@code fail}: what a publish does when the async queue is full. */
    public static final String DISPATCH_OVERFLOW = "eventbus.dispatch.overflow";
    /** How long {@code block} waits for room before failing the publish. Default 30s. */
    public static final String DISPATCH_BLOCK_TIMEOUT = "eventbus.dispatch.block-timeout";
    /** {@code true} to pass in-memory events through the serializer, to catch unserializable events in tests. Default false. */
    public static final String MEMORY_SERIALIZE = "eventbus.memory.serialize";
    /** Ordered lanes per consumer group in the in-memory transport. Default 64. */
    public static final String MEMORY_LANES = "eventbus.memory.lanes";
    /** Messages one in-memory lane holds before the overflow policy applies. Default 1024. */
    public static final String MEMORY_LANE_CAPACITY = "eventbus.memory.lane-capacity";
    /** Total attempts before an event is dead-lettered. Default 5. */
    public static final String RETRY_MAX_ATTEMPTS = "eventbus.retry.max-attempts";
    /** Retries made at once, in process, before delayed redelivery. Default 2. */
    public static final String RETRY_IMMEDIATE = "eventbus.retry.immediate-retries";
    /** First delayed-redelivery wait. Default 1s. */
    public static final String RETRY_INITIAL_DELAY = "eventbus.retry.initial-delay";
    /** Growth factor of the wait. Default 2.0. */
    public static final String RETRY_MULTIPLIER = "eventbus.retry.multiplier";
    /** Longest wait. Default 5m. */
    public static final String RETRY_MAX_DELAY = "eventbus.retry.max-delay";
    /** Random spread of each wait, 0 to 1. Default 0.2. */
    public static final String RETRY_JITTER = "eventbus.retry.jitter";
    /** {@code dead-letter} (default) or {@code ignore}: messages of a type no class is registered for. */
    public static final String UNKNOWN_TYPES = "eventbus.unknown-types";
    /**
     * {@code true} to dead-letter a JSON event whose record components or creator properties are {@code null} or
     * missing (and {@code null} for primitives). Default false.
     */
    public static final String JSON_FAIL_ON_NULL_COMPONENTS = "eventbus.json.fail-on-null-components";
    /** {@code true} to dead-letter a JSON event with properties its class does not have. Default false. */
    public static final String JSON_FAIL_ON_UNKNOWN_PROPERTIES = "eventbus.json.fail-on-unknown-properties";
    /**
     * {@code none} (default) or {@code bean}: check every decoded event with Jakarta Bean Validation and
     * dead-letter those with constraint violations. {@code bean} needs {@code jakarta.validation-api} and a provider
     * (e.g. Hibernate Validator) on the classpath; without them {@code build()} fails.
     */
    public static final String VALIDATION = "eventbus.validation";
    /** Default concurrency of a consumer group's subscription. Default 4. */
    public static final String CONSUMER_CONCURRENCY = "eventbus.consumer.concurrency";
    /**
     * {@code true} (default): subscriptions ask their transport to hand over events of one key in order (RabbitMQ
     * then shards each group's queue by key); {@code false}: competing consumers without key order.
     */
    public static final String CONSUMER_ORDERED_BY_KEY = "eventbus.consumer.ordered-by-key";
    /** How long {@code close()} waits for handlers in flight. Default 30s. */
    public static final String CLOSE_TIMEOUT = "eventbus.close-timeout";
    /** Prefix of stream routes: {@code eventbus.route.stream.tasks=rabbitmq} sends the stream {@code tasks} over RabbitMQ. */
    public static final String ROUTE_STREAM_PREFIX = "eventbus.route.stream.";
    /** Prefix of type routes: {@code eventbus.route.type.order.placed=kafka} sends that event type over Kafka. */
    public static final String ROUTE_TYPE_PREFIX = "eventbus.route.type.";
    /**
     * Prefix of per-group settings: {@code eventbus.group.<group>.<setting>}, the settings being
     * {@link #GROUP_BATCH_MAX_SIZE} and {@link #GROUP_BATCH_MAX_WAIT}. A value set on {@link Subscribe} wins.
     */
    public static final String GROUP_PREFIX = "eventbus.group.";
    /**
     * {@code eventbus.group.<group>.batch.max-size}: the most events in one call of the group's batch subscribers,
     * 1 to 100000. Default 100.
     */
    public static final String GROUP_BATCH_MAX_SIZE = "batch.max-size";
    /**
     * {@code eventbus.group.<group>.batch.max-wait}: how long the first event of a batch waits for the batch to fill,
     * 0 to 1h. Default 200ms.
     */
    public static final String GROUP_BATCH_MAX_WAIT = "batch.max-wait";

    /**
     * Prefix of a consumer group's rate limit, {@code eventbus.group.<group>.rate} ({@link #GROUP_RATE_SUFFIX}):
     * {@code eventbus.group.billing.rate=200/s} lets the group {@code billing} handle at most 200 messages a second
     * ({@code <n>/s} or {@code <n>/m}). Needs the module {@code dev.eventbus:eventbus-ratelimit}, whose
     * {@code eventbus.rate.*} keys choose a limit per instance or one shared by the group's instances through Redis.
     */
    public static final String GROUP_RATE_PREFIX = GROUP_PREFIX;
    /** Suffix of a consumer group's rate limit: see {@link #GROUP_RATE_PREFIX}. */
    public static final String GROUP_RATE_SUFFIX = ".rate";

    private static final Map<String, String> DOCS;

    static {
        Map<String, String> d = new LinkedHashMap<>();
        d.put(SERVICE, "service name (default: eventbus)");
        d.put(SOURCE, "CloudEvents source, a URI-reference (default: urn:eventbus:<service, percent-encoded>)");
        d.put(TRANSPORT, "default transport: memory, kafka, rabbitmq or jdbc (default: memory)");
        d.put(DEFAULT_STREAM, "stream of types without @EventType(stream) (default: events)");
        d.put(DISPATCH, "sync or async (default: sync)");
        d.put(DISPATCH_THREADS, "async worker threads (default: processors)");
        d.put(DISPATCH_QUEUE_CAPACITY, "async queue capacity (default: 65536)");
        d.put(DISPATCH_OVERFLOW, "block, caller-runs or fail (default: block)");
        d.put(DISPATCH_BLOCK_TIMEOUT, "how long block waits (default: 30s)");
        d.put(MEMORY_SERIALIZE, "true to round-trip in-memory events through the serializer (default: false)");
        d.put(MEMORY_LANES, "lanes per in-memory group (default: 64)");
        d.put(MEMORY_LANE_CAPACITY, "messages per in-memory lane (default: 1024)");
        d.put(RETRY_MAX_ATTEMPTS, "attempts before dead-lettering (default: 5)");
        d.put(RETRY_IMMEDIATE, "in-process retries before delayed ones (default: 2)");
        d.put(RETRY_INITIAL_DELAY, "first delayed-retry wait (default: 1s)");
        d.put(RETRY_MULTIPLIER, "backoff multiplier (default: 2.0)");
        d.put(RETRY_MAX_DELAY, "longest retry wait (default: 5m)");
        d.put(RETRY_JITTER, "retry wait spread 0..1 (default: 0.2)");
        d.put(UNKNOWN_TYPES, "dead-letter or ignore (default: dead-letter)");
        d.put(JSON_FAIL_ON_NULL_COMPONENTS, "dead-letter JSON events with null/missing record components (default: false)");
        d.put(JSON_FAIL_ON_UNKNOWN_PROPERTIES, "dead-letter JSON events with unknown properties (default: false)");
        d.put(VALIDATION, "none or bean: Jakarta Bean Validation of decoded events (default: none)");
        d.put(CONSUMER_CONCURRENCY, "default subscription concurrency (default: 4)");
        d.put(CONSUMER_ORDERED_BY_KEY, "keep per-key order on consumption (default: true)");
        d.put(CLOSE_TIMEOUT, "close() drain timeout (default: 30s)");
        DOCS = Collections.unmodifiableMap(d);
    }

    /** Every fixed key of the bus with a one-line description, in a stable order (route prefixes excluded). */
    public static Map<String, String> documentation() {
        return DOCS;
    }
}
