package dev.eventbus.internal;

import dev.eventbus.ConfigException;
import dev.eventbus.EventBusConfig;
import dev.eventbus.spi.GroupRateLimiter;
import dev.eventbus.spi.RateLimit;
import dev.eventbus.spi.RateLimiterProvider;
import dev.eventbus.spi.TransportContext;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Core's side of consumer rate limits: reads and validates {@code eventbus.group.<group>.rate}, finds the
 * {@link RateLimiterProvider} on the classpath and asks it for the bus's limiter. Core holds no limiter itself, so
 * it keeps its two runtime dependencies. Stateless and thread-safe.
 */
public final class RateLimits {

    /** The namespace of the rate limiter module's own keys. */
    public static final String NAMESPACE = "eventbus.rate.";

    private RateLimits() {
    }

    /** True for {@code eventbus.group.<group>.rate} with a non-empty group name. */
    public static boolean isGroupRateKey(String key) {
        return key.startsWith(EventBusConfig.GROUP_RATE_PREFIX) && key.endsWith(EventBusConfig.GROUP_RATE_SUFFIX)
                && key.length() > EventBusConfig.GROUP_RATE_PREFIX.length() + EventBusConfig.GROUP_RATE_SUFFIX.length();
    }

    /**
     * The limits set in {@code config}, by group (sorted).
     *
     * @throws ConfigException naming the first key whose value is not {@code <n>/s} or {@code <n>/m}
     */
    public static Map<String, RateLimit> parse(Map<String, String> config) {
        Map<String, RateLimit> out = new TreeMap<>();
        for (Map.Entry<String, String> e : new TreeMap<>(config).entrySet()) {
            String key = e.getKey();
            if (isGroupRateKey(key) && e.getValue() != null && !e.getValue().isBlank()) {
                String group = key.substring(EventBusConfig.GROUP_RATE_PREFIX.length(),
                        key.length() - EventBusConfig.GROUP_RATE_SUFFIX.length());
                out.put(group, RateLimit.parse(key, e.getValue()));
            }
        }
        return out;
    }

    /**
     * The bus's limiter, or null when no group has a limit.
     *
     * @throws ConfigException naming a rate key and the module to add when no provider is on the classpath, or a
     *                         key the provider rejects
     */
    public static GroupRateLimiter create(TransportContext cfg) {
        Map<String, RateLimit> limits = parse(cfg.properties());
        List<RateLimiterProvider> providers = providers();
        if (limits.isEmpty()) {
            return null;
        }
        if (providers.isEmpty()) {
            String key = EventBusConfig.GROUP_RATE_PREFIX + limits.keySet().iterator().next()
                    + EventBusConfig.GROUP_RATE_SUFFIX;
            throw new ConfigException(key, "Configuration key '" + key + "' sets a consumer rate limit, but no rate "
                    + "limiter is on the classpath: add the Maven artifact " + RateLimiterProvider.ARTIFACT, (Throwable) null);
        }
        return providers.get(0).create(cfg, limits);
    }

    /**
     * What is wrong with {@code key} under {@link #NAMESPACE} ({@code {key}} standing for it), or null when the
     * provider on the classpath reads it.
     */
    static String problemWith(String key) {
        List<RateLimiterProvider> providers = providers();
        if (providers.isEmpty()) {
            return "Configuration key {key} is a setting of the consumer rate limiter, which is not on the classpath: "
                    + "add the Maven artifact " + RateLimiterProvider.ARTIFACT;
        }
        TreeSet<String> allowed = new TreeSet<>();
        providers.forEach(p -> allowed.addAll(p.configKeys()));
        if (allowed.contains(key)) {
            return null;
        }
        String near = ConfigKeys.nearest(key, allowed);
        return "Unknown configuration key {key}" + (near == null ? "" : " (did you mean '" + near + "'?)")
                + ": the rate limiter accepts " + allowed + " and " + EventBusConfig.GROUP_RATE_PREFIX + "<group>"
                + EventBusConfig.GROUP_RATE_SUFFIX;
    }

    /** The providers on the classpath: core's class loader first, then the thread's context loader. */
    public static List<RateLimiterProvider> providers() {
        List<RateLimiterProvider> out = new ArrayList<>();
        for (RateLimiterProvider p : ServiceLoader.load(RateLimiterProvider.class, RateLimits.class.getClassLoader())) {
            out.add(p);
        }
        if (out.isEmpty() && Thread.currentThread().getContextClassLoader() != null) {
            for (RateLimiterProvider p : ServiceLoader.load(RateLimiterProvider.class)) {
                out.add(p);
            }
        }
        return out;
    }
}
