package dev.eventbus.spi;

import dev.eventbus.ConfigException;

import java.time.Duration;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A consumer rate limit: at most {@link #permits()} handlings per {@link #period()}, as written in
 * {@code eventbus.group.<group>.rate=200/s} ({@code <n>/s} or {@code <n>/m}).
 *
 * <p>Immutable and thread-safe.
 *
 * @param permits handlings allowed per period, at least 1
 * @param period  one second or one minute
 */
public record RateLimit(int permits, Duration period) {

    /** The form a rate is written in, for error messages. */
    public static final String FORM = "<n>/s or <n>/m with n a whole number from 1 to 1000000 (e.g. 200/s)";

    private static final Pattern SYNTAX = Pattern.compile("\\s*(\\d{1,7})\\s*/\\s*([sm])\\s*");

    public RateLimit {
        Objects.requireNonNull(period, "period");
        if (permits < 1 || permits > 1_000_000) {
            throw new IllegalArgumentException("permits must be from 1 to 1000000, was " + permits);
        }
        if (!period.equals(Duration.ofSeconds(1)) && !period.equals(Duration.ofMinutes(1))) {
            throw new IllegalArgumentException("period must be 1 s or 1 min, was " + period);
        }
    }

    /**
     * Parses {@code value} ({@code 200/s}, {@code 30/m}) set by {@code key}.
     *
     * @throws ConfigException naming {@code key}, the value and the expected form
     */
    public static RateLimit parse(String key, String value) {
        Matcher m = value == null ? null : SYNTAX.matcher(value);
        if (m == null || !m.matches()) {
            throw new ConfigException(key, value, FORM);
        }
        int n = Integer.parseInt(m.group(1));
        if (n < 1 || n > 1_000_000) {
            throw new ConfigException(key, value, FORM);
        }
        return new RateLimit(n, m.group(2).equals("s") ? Duration.ofSeconds(1) : Duration.ofMinutes(1));
    }

    /** The limit in handlings per second. */
    public double perSecond() {
        return permits * 1000.0 / period.toMillis();
    }

    @Override
    public String toString() {
        return permits + (period.equals(Duration.ofSeconds(1)) ? "/s" : "/m");
    }
}
