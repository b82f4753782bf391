package dev.eventbus;

/**
 * A configuration value is missing or invalid. Thrown when a bus or transport is built, never later; the
 * message names the key, the value found (unless the key holds a secret) and what is allowed.
 */
public class ConfigException extends EventBusException {
    private static final long serialVersionUID = 1L;

    private final String key;

    /**
     * @param key      the configuration key, e.g. {@code eventbus.retry.max-attempts}
     * @param value    the value found, or null when missing
     * @param expected what is allowed, e.g. "an integer from 1 to 100"
     */
    public ConfigException(String key, String value, String expected) {
        super(message(key, value, expected));
        this.key = key;
    }

    /** A configuration problem that is not about one value. */
    public ConfigException(String key, String message, Throwable cause) {
        super(message, cause);
        this.key = key;
    }

    /** The offending key. */
    public String key() {
        return key;
    }

    private static String message(String key, String value, String expected) {
        String shown = value == null ? null : isSecret(key) ? "****" : "'" + value + "'";
        return shown == null
                ? "Missing configuration '" + key + "': expected " + expected
                : "Invalid configuration '" + key + "' = " + shown + ": expected " + expected;
    }

    /** Keys whose values must never be printed. */
    public static boolean isSecret(String key) {
        String k = key.toLowerCase(java.util.Locale.ROOT);
        return k.contains("password") || k.contains("secret") || k.contains("jaas") || k.contains("token")
                || k.contains("credential") || k.endsWith(".uri") || k.endsWith(".url") || k.contains("key.pass");
    }
}
