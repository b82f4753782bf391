/**
 * Consumer rate limits for the bus ({@code eventbus.group.<group>.rate}): {@link dev.eventbus.ratelimit.RateLimitConfig}
 * holds the module's keys; {@link dev.eventbus.ratelimit.RateLimiterModule} is the provider the bus finds with
 * {@link java.util.ServiceLoader}. Limits per instance use Resilience4j; limits shared by a group's instances use a
 * Lua script on Redis through Lettuce, with a local fallback while Redis is unreachable. The machinery is in
 * {@code dev.eventbus.ratelimit.internal}.
 */
package dev.eventbus.ratelimit;
