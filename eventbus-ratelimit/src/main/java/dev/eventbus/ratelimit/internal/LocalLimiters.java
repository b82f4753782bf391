package dev.eventbus.ratelimit.internal;

import dev.eventbus.spi.GroupRateLimiter;
import dev.eventbus.spi.RateLimit;
import io.github.resilience4j.ratelimiter.RateLimiter;

import java.util.HashMap;
import java.util.Map;

/**
 * {@code eventbus.rate.scope=local}: each group limited in this instance alone, by a Resilience4j {@link RateLimiter}.
 * Thread-safe.
 */
public final class LocalLimiters implements GroupRateLimiter {

    private final Map<String, RateLimiter> byGroup = new HashMap<>();
    private final Pacing pacing = new Pacing();

    public LocalLimiters(Map<String, RateLimit> limits) {
        limits.forEach((group, limit) -> byGroup.put(group, Pacing.limiter("eventbus-" + group, limit.perSecond())));
    }

    @Override
    public boolean acquire(String group) {
        RateLimiter limiter = byGroup.get(group);
        return limiter == null || pacing.acquire(limiter);
    }

    @Override
    public void close() {
        pacing.close();
    }

    @Override
    public String toString() {
        return "LocalLimiters" + byGroup.keySet();
    }
}
