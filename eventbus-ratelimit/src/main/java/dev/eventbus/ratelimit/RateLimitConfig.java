package dev.eventbus.ratelimit;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The configuration keys of the rate limiter module, each with what it means and its default. The limits themselves
 * are core keys: {@code eventbus.group.<group>.rate=200/s} ({@link dev.eventbus.EventBusConfig#GROUP_RATE_PREFIX}).
 *
 * <p>Constants only; thread-safe.
 */
public final class RateLimitConfig {

    private RateLimitConfig() {
    }

    /**
     * {@code local} (default): each bus instance allows the full rate on its own. {@code shared}: all instances of
     * a group, on any machine, share one limit through Redis ({@link #REDIS_URI}).
     */
    public static final String SCOPE = "eventbus.rate.scope";
    /** The Redis server of shared limits, a Lettuce URI. Default {@code redis://127.0.0.1:6379}. */
    public static final String REDIS_URI = "eventbus.rate.redis-uri";
    /** Prefix of the Redis keys of shared limits (one key per group, plus one for its live instances). Default {@code eventbus:rate:}. */
    public static final String REDIS_KEY_PREFIX = "eventbus.rate.redis-key-prefix";
    /** How long one Redis call may take before the limiter falls back to a local limit. Default 500ms. */
    public static final String REDIS_TIMEOUT = "eventbus.rate.redis-timeout";
    /**
     * The number of instances a shared limit is divided by while Redis is unreachable and no instance count was ever
     * read from it (Redis down since start). Default 1: each instance then allows the full rate.
     */
    public static final String FALLBACK_INSTANCES = "eventbus.rate.fallback-instances";

    private static final Map<String, String> DOCS;

    static {
        Map<String, String> d = new LinkedHashMap<>();
        d.put(SCOPE, "local (each instance its own limit) or shared (one limit per group through Redis) (default: local)");
        d.put(REDIS_URI, "Redis of shared limits (default: redis://127.0.0.1:6379)");
        d.put(REDIS_KEY_PREFIX, "prefix of the Redis keys of shared limits (default: eventbus:rate:)");
        d.put(REDIS_TIMEOUT, "longest Redis call before falling back to a local limit (default: 500ms)");
        d.put(FALLBACK_INSTANCES, "instances a shared limit is split over during an outage when Redis never told (default: 1)");
        DOCS = Collections.unmodifiableMap(d);
    }

    /** Every key of the module with a one-line description, in a stable order. */
    public static Map<String, String> documentation() {
        return DOCS;
    }
}
