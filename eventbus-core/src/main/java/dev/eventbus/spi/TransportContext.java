package dev.eventbus.spi;

import dev.eventbus.ConfigException;

import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * What a {@link TransportProvider} gets to build its transport: the bus's service name and the flattened
 * configuration ({@code eventbus.*} keys from {@code eventbus.properties}, system properties and
 * {@code EVENTBUS_*} environment variables, already merged by precedence).
 *
 * <p>Typed getters fail with a {@link ConfigException} that names the key, the value found and what is
 * allowed, so a bad setting is reported when the bus is built, not on the first message.
 *
 * <p>Immutable and thread-safe.
 */
public final class TransportContext {

    private final String serviceName;
    private final Map<String, String> properties;

    public TransportContext(String serviceName, Map<String, String> properties) {
        this.serviceName = Objects.requireNonNull(serviceName, "serviceName");
        this.properties = Map.copyOf(properties);
    }

    /** The bus's service name (CloudEvents source, default consumer group, connection name). */
    public String serviceName() {
        return serviceName;
    }

    /** All configuration, keyed by full name ({@code eventbus.kafka.bootstrap.servers}). */
    public Map<String, String> properties() {
        return properties;
    }

    /** The value of {@code key}, or null. Blank values count as absent. */
    public String get(String key) {
        String v = properties.get(key);
        return v == null || v.isBlank() ? null : v.trim();
    }

    public String get(String key, String defaultValue) {
        String v = get(key);
        return v == null ? defaultValue : v;
    }

    /** The value of {@code key}; fails naming the key and {@code expected} when it is missing. */
    public String require(String key, String expected) {
        String v = get(key);
        if (v == null) {
            throw new ConfigException(key, null, expected);
        }
        return v;
    }

    public int getInt(String key, int defaultValue, int min, int max) {
        String v = get(key);
        if (v == null) {
            return defaultValue;
        }
        try {
            int i = Integer.parseInt(v);
            if (i < min || i > max) {
                throw new ConfigException(key, v, "an integer from " + min + " to " + max);
            }
            return i;
        } catch (NumberFormatException e) {
            throw new ConfigException(key, v, "an integer from " + min + " to " + max);
        }
    }

    public boolean getBoolean(String key, boolean defaultValue) {
        String v = get(key);
        if (v == null) {
            return defaultValue;
        }
        switch (v.toLowerCase(Locale.ROOT)) {
            case "true":
                return true;
            case "false":
                return false;
            default:
                throw new ConfigException(key, v, "true or false");
        }
    }

    /** A duration as ISO-8601 ({@code PT5S}) or a number with a unit: {@code 250ms}, {@code 5s}, {@code 2m}, {@code 1h}. */
    public Duration getDuration(String key, Duration defaultValue) {
        String v = get(key);
        return v == null ? defaultValue : parseDuration(key, v);
    }

    /** Parses a duration the way {@link #getDuration} does; fails naming {@code key}. */
    public static Duration parseDuration(String key, String v) {
        String s = v.trim().toLowerCase(Locale.ROOT);
        try {
            if (s.startsWith("p")) {
                return Duration.parse(v.trim().toUpperCase(Locale.ROOT));
            }
            if (s.endsWith("ms")) {
                return Duration.ofMillis(Long.parseLong(s.substring(0, s.length() - 2).trim()));
            }
            long n = Long.parseLong(s.substring(0, s.length() - 1).trim());
            switch (s.charAt(s.length() - 1)) {
                case 's':
                    return Duration.ofSeconds(n);
                case 'm':
                    return Duration.ofMinutes(n);
                case 'h':
                    return Duration.ofHours(n);
                case 'd':
                    return Duration.ofDays(n);
                default:
                    break;
            }
        } catch (RuntimeException ignored) {
            // fall through to the clear message below
        }
        throw new ConfigException(key, v, "a duration such as 250ms, 5s, 2m, 1h or PT5S");
    }

    public <E extends Enum<E>> E getEnum(String key, Class<E> type, E defaultValue) {
        String v = get(key);
        if (v == null) {
            return defaultValue;
        }
        String normalized = v.trim().replace('-', '_').toUpperCase(Locale.ROOT);
        for (E e : type.getEnumConstants()) {
            if (e.name().equals(normalized)) {
                return e;
            }
        }
        StringBuilder allowed = new StringBuilder("one of ");
        E[] all = type.getEnumConstants();
        for (int i = 0; i < all.length; i++) {
            allowed.append(i == 0 ? "" : ", ").append(all[i].name().toLowerCase(Locale.ROOT).replace('_', '-'));
        }
        throw new ConfigException(key, v, allowed.toString());
    }

    /**
     * Every key that starts with {@code prefix}, with the prefix removed, sorted; for pass-through settings
     * such as {@code eventbus.kafka.*}.
     */
    public Map<String, String> withPrefix(String prefix) {
        Map<String, String> out = new TreeMap<>();
        properties.forEach((k, v) -> {
            if (k.startsWith(prefix) && k.length() > prefix.length()) {
                out.put(k.substring(prefix.length()), v);
            }
        });
        return out;
    }

    @Override
    public String toString() {
        // Never print values: they may hold passwords.
        return "TransportContext{service=" + serviceName + ", keys=" + new TreeMap<>(properties).keySet() + '}';
    }
}
