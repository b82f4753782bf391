package dev.eventbus.ratelimit;

import dev.eventbus.ConfigException;
import dev.eventbus.ratelimit.internal.LocalLimiters;
import dev.eventbus.ratelimit.internal.SharedLimiters;
import dev.eventbus.spi.GroupRateLimiter;
import dev.eventbus.spi.RateLimit;
import dev.eventbus.spi.RateLimiterProvider;
import dev.eventbus.spi.TransportContext;

import java.time.Duration;
import java.util.Collection;
import java.util.Map;

/**
 * The consumer rate limiter, found by the bus with {@link java.util.ServiceLoader}: having this module on the
 * classpath is all it takes for {@code eventbus.group.<group>.rate} to work. Users do not call it.
 *
 * <p>{@code eventbus.rate.scope=local} (default) limits each instance with a Resilience4j {@code RateLimiter};
 * {@code shared} makes all instances of a group share one limit through an atomic Lua script on Redis, falling
 * back to a local share of the limit while Redis is unreachable (see the module README).
 *
 * <p>Thread-safe, stateless; each {@link #create} makes an independent limiter owned by its bus.
 */
public final class RateLimiterModule implements RateLimiterProvider {

    /** Used by {@link java.util.ServiceLoader}. */
    public RateLimiterModule() {
    }

    @Override
    public Collection<String> configKeys() {
        return RateLimitConfig.documentation().keySet();
    }

    @Override
    public GroupRateLimiter create(TransportContext context, Map<String, RateLimit> limits) {
        String scope = context.get(RateLimitConfig.SCOPE, "local");
        switch (scope) {
            case "local":
                return new LocalLimiters(limits);
            case "shared":
                Duration timeout = context.getDuration(RateLimitConfig.REDIS_TIMEOUT, Duration.ofMillis(500));
                if (timeout.isZero() || timeout.isNegative()) {
                    throw new ConfigException(RateLimitConfig.REDIS_TIMEOUT, context.get(RateLimitConfig.REDIS_TIMEOUT),
                            "a positive duration such as 500ms");
                }
                return SharedLimiters.start(limits,
                        context.get(RateLimitConfig.REDIS_URI, "redis://127.0.0.1:6379"),
                        context.get(RateLimitConfig.REDIS_KEY_PREFIX, "eventbus:rate:"),
                        timeout,
                        context.getInt(RateLimitConfig.FALLBACK_INSTANCES, 1, 1, 100_000),
                        context.serviceName());
            default:
                throw new ConfigException(RateLimitConfig.SCOPE, scope, "local or shared");
        }
    }
}
