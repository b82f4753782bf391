package dev.eventbus.ratelimit.internal;

import dev.eventbus.ConfigException;
import dev.eventbus.ratelimit.RateLimitConfig;
import dev.eventbus.spi.GroupRateLimiter;
import dev.eventbus.spi.RateLimit;
import io.github.resilience4j.ratelimiter.RateLimiter;
import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.Delay;
import io.lettuce.core.resource.DefaultClientResources;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code eventbus.rate.scope=shared}: one limit per group for all its instances, kept in Redis.
 *
 * <p>Each handling reserves the next free slot of the group with an atomic Lua script (a GCRA "theoretical arrival
 * time": slots are {@code period / permits} apart, whichever instance asks) and sleeps until its slot. So the group
 * as a whole never exceeds the rate, however many instances it has, and no instance spins.
 *
 * <p>Every second a heartbeat script records this instance in a sorted set per group and reads how many instances
 * were alive in the last 5 s. While Redis is unreachable (a call failing or taking longer than
 * {@code eventbus.rate.redis-timeout}) each instance falls back to a local Resilience4j limit of
 * {@code rate / instances last seen} ({@code eventbus.rate.fallback-instances} when Redis never answered), with a
 * WARN at most every 30 s; the first heartbeat that succeeds again switches back to the shared limit.
 *
 * <p>Thread-safe. {@link #close()} wakes every waiter and releases the Redis connection and its threads.
 */
public final class SharedLimiters implements GroupRateLimiter {

    private static final Logger log = LoggerFactory.getLogger(SharedLimiters.class);

    /**
     * Reserves one slot: returns the microseconds to wait for it. KEYS[1] group key, ARGV[1] slot interval in us,
     * ARGV[2] tolerance in us: slots missed within it (consumers waking late) may still be taken, no older ones.
     */
    static final String RESERVE = """
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
            local interval = tonumber(ARGV[1])
            local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
            local oldest = now - tonumber(ARGV[2])
            if tat < oldest then tat = oldest end
            local wait = tat - now
            if wait < 0 then wait = 0 end
            redis.call('SET', KEYS[1], string.format('%.0f', tat + interval), 'PX', math.floor((wait + interval) / 1000) + 10000)
            return wait
            """;

    /** Records an instance and counts the live ones. KEYS[1] instance set, ARGV[1] instance id, ARGV[2] liveness ms. */
    static final String HEARTBEAT = """
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local alive = tonumber(ARGV[2])
            redis.call('ZADD', KEYS[1], now, ARGV[1])
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - alive)
            redis.call('PEXPIRE', KEYS[1], alive * 2)
            return redis.call('ZCARD', KEYS[1])
            """;

    private static final long HEARTBEAT_MS = 1000;
    private static final long CATCH_UP_MICROS = 500_000;
    private static final Duration MIN_CONNECT_TIMEOUT = Duration.ofSeconds(2);
    private static final long ALIVE_MS = 5000;
    private static final long WARN_EVERY_NANOS = TimeUnit.SECONDS.toNanos(30);
    private static final String RESERVE_SHA = sha1(RESERVE);
    private static final String HEARTBEAT_SHA = sha1(HEARTBEAT);

    private final String uri;
    private final String instanceId;
    private final int fallbackInstances;
    private final Map<String, Group> groups = new LinkedHashMap<>();
    private final Pacing pacing = new Pacing();
    private final ClientResources resources;
    private final RedisClient client;
    private final ScheduledExecutorService heartbeat;
    /** Null while Redis has never been reached since start. */
    private volatile StatefulRedisConnection<String, String> connection;
    private volatile boolean shared;
    private final AtomicLong nextWarn = new AtomicLong(System.nanoTime());

    private SharedLimiters(Map<String, RateLimit> limits, String uri, String keyPrefix, Duration timeout,
                           int fallbackInstances, String service) {
        RedisURI redisUri;
        try {
            redisUri = RedisURI.create(uri);
        } catch (RuntimeException e) {
            throw new ConfigException(RateLimitConfig.REDIS_URI, uri, "a Redis URI such as redis://127.0.0.1:6379");
        }
        // The URI's timeout bounds the connection handshake; calls get the shorter eventbus.rate.redis-timeout below.
        redisUri.setTimeout(timeout.compareTo(MIN_CONNECT_TIMEOUT) < 0 ? MIN_CONNECT_TIMEOUT : timeout);
        this.uri = redisUri.getHost() + ":" + redisUri.getPort();
        this.instanceId = service + "-" + UUID.randomUUID();
        this.fallbackInstances = fallbackInstances;
        limits.forEach((g, limit) -> groups.put(g, new Group(g, limit, keyPrefix + g, keyPrefix + g + ":instances")));
        // Reconnect quickly after an outage (Lettuce's default backs off to 30 s), on as few threads as it takes.
        this.resources = DefaultClientResources.builder().ioThreadPoolSize(2).computationThreadPoolSize(2)
                .reconnectDelay(Delay.constant(Duration.ofMillis(500))).build();
        this.client = RedisClient.create(resources, redisUri);
        client.setOptions(ClientOptions.builder()
                .autoReconnect(true)
                // Fail at once while disconnected: the limiter falls back instead of queueing commands.
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                .timeoutOptions(TimeoutOptions.enabled(timeout))
                // A connection may take longer than a call on a loaded machine; a failed one only means fallback.
                .socketOptions(SocketOptions.builder().connectTimeout(timeout.compareTo(MIN_CONNECT_TIMEOUT) < 0
                        ? MIN_CONNECT_TIMEOUT : timeout).build())
                .build());
        this.heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "eventbus-rate-heartbeat");
            t.setDaemon(true);
            return t;
        });
    }

    /** Connects (or falls back when Redis is down: it will be tried again every second) and starts the heartbeat. */
    public static SharedLimiters start(Map<String, RateLimit> limits, String uri, String keyPrefix, Duration timeout,
                                       int fallbackInstances, String service) {
        SharedLimiters s = new SharedLimiters(limits, uri, keyPrefix, timeout, fallbackInstances, service);
        s.beat();
        s.heartbeat.scheduleWithFixedDelay(s::beat, HEARTBEAT_MS, HEARTBEAT_MS, TimeUnit.MILLISECONDS);
        return s;
    }

    @Override
    public boolean acquire(String group) {
        Group g = groups.get(group);
        if (g == null) {
            return true;
        }
        StatefulRedisConnection<String, String> c = connection;
        if (shared && c != null && !pacing.isClosed()) { // closing: the local share, without Redis or a WARN
            try {
                Long waitMicros = script(c, RESERVE, RESERVE_SHA, g.key, Long.toString(g.intervalMicros),
                        Long.toString(g.toleranceMicros));
                return pacing.sleep(TimeUnit.MICROSECONDS.toNanos(waitMicros));
            } catch (RuntimeException e) {
                lost(e);
            }
        }
        return pacing.acquire(g.fallback);
    }

    /** One heartbeat: connects if never connected, records this instance, counts the live ones, resumes sharing. */
    private void beat() {
        if (pacing.isClosed()) {
            return;
        }
        try {
            StatefulRedisConnection<String, String> c = connection;
            if (c == null) {
                c = client.connect();
                connection = c;
            }
            for (Group g : groups.values()) {
                Long n = script(c, HEARTBEAT, HEARTBEAT_SHA, g.instancesKey, instanceId, Long.toString(ALIVE_MS));
                g.instancesSeen(n.intValue());
            }
            if (!shared) {
                shared = true;
                log.info("rate limits of groups {} are shared through Redis at {}", groups.keySet(), uri);
            }
        } catch (RuntimeException e) {
            lost(e);
        }
    }

    /** Redis failed: fall back to the local share until the next heartbeat succeeds. */
    private void lost(RuntimeException e) {
        shared = false;
        long now = System.nanoTime();
        long due = nextWarn.get();
        if (now - due >= 0 && nextWarn.compareAndSet(due, now + WARN_EVERY_NANOS)) {
            StringBuilder shares = new StringBuilder();
            for (Group g : groups.values()) {
                shares.append(shares.length() == 0 ? "" : ", ").append(g.name).append(' ').append(g.limit)
                        .append(" / ").append(g.instances).append(" instance").append(g.instances == 1 ? "" : "s")
                        .append(" = ").append(String.format(java.util.Locale.ROOT, "%.1f/s", g.share()));
            }
            log.warn("Redis at {} is unreachable for the shared rate limits ({}); until it is back, each instance "
                    + "limits itself to its share: {}", uri, e.getCause() == null ? e.toString()
                    : e + ": " + e.getCause(), shares);
        }
    }

    private static Long script(StatefulRedisConnection<String, String> c, String script, String sha, String key,
                               String... args) {
        String[] keys = {key};
        try {
            return c.sync().evalsha(sha, ScriptOutputType.INTEGER, keys, args);
        } catch (RedisNoScriptException e) {
            return c.sync().eval(script, ScriptOutputType.INTEGER, keys, args); // loads it (e.g. after a restart)
        }
    }

    @Override
    public void close() {
        pacing.close();
        heartbeat.shutdownNow();
        StatefulRedisConnection<String, String> c = connection;
        if (c != null && shared) {
            try {
                for (Group g : groups.values()) {
                    c.sync().zrem(g.instancesKey, instanceId); // the others' fallback share should not count us
                }
            } catch (RuntimeException e) {
                log.debug("could not remove instance {} from Redis", instanceId, e);
            }
        }
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2)); // closes the connection too
        resources.shutdown(0, 2, TimeUnit.SECONDS);
    }

    /** Whether the limits are currently shared through Redis (false while falling back to a local share). */
    public boolean isShared() {
        return shared;
    }

    @Override
    public String toString() {
        return "SharedLimiters" + groups.keySet() + (shared ? " via Redis at " : " falling back locally, Redis at ") + uri;
    }

    private static String sha1(String script) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1")
                    .digest(script.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One limited group: its Redis keys and its local fallback. */
    private final class Group {
        final String name;
        final RateLimit limit;
        final String key;
        final String instancesKey;
        final long intervalMicros;
        final long toleranceMicros;
        volatile int instances;
        volatile RateLimiter fallback;

        Group(String name, RateLimit limit, String key, String instancesKey) {
            this.name = name;
            this.limit = limit;
            this.key = key;
            this.instancesKey = instancesKey;
            this.intervalMicros = Math.max(1, Math.round(1e6 / limit.perSecond()));
            // Slots missed in the last half second (consumers descheduled on a loaded machine) may be caught up: the
            // long-run rate stays the limit, and a group idle for longer may start with half a second's permits.
            this.toleranceMicros = Math.max(intervalMicros, CATCH_UP_MICROS) - intervalMicros;
            this.instances = fallbackInstances;
            this.fallback = Pacing.limiter("eventbus-" + name + "-fallback", share());
        }

        double share() {
            return limit.perSecond() / Math.max(1, instances);
        }

        void instancesSeen(int n) {
            if (n >= 1 && n != instances) {
                instances = n;
                fallback = Pacing.limiter("eventbus-" + name + "-fallback", share());
            }
        }
    }
}
