package dev.eventbus.spi;

import java.util.Collection;
import java.util.Map;

/**
 * Makes the {@link GroupRateLimiter} of a bus whose configuration sets a rate ({@code eventbus.group.<group>.rate});
 * found with {@link java.util.ServiceLoader} in {@code META-INF/services/dev.eventbus.spi.RateLimiterProvider}, the
 * way transports are. The module {@code dev.eventbus:eventbus-ratelimit} provides one. Core keeps no limiter of its
 * own: a rate set without a provider on the classpath fails {@code build()} naming the key and that module.
 *
 * <p>Implementations must be thread-safe and have a public no-argument constructor.
 */
public interface RateLimiterProvider {

    /** The Maven artifact that provides the rate limiter, for error messages. */
    String ARTIFACT = "dev.eventbus:eventbus-ratelimit";

    /** The full names of the provider's own keys, all under {@code eventbus.rate.}; other keys there fail build(). */
    Collection<String> configKeys();

    /**
     * Creates the limiter for {@code limits} (by group, never empty). May block while it connects to a server.
     *
     * @throws dev.eventbus.ConfigException naming the key when a setting is invalid
     */
    GroupRateLimiter create(TransportContext context, Map<String, RateLimit> limits);
}
