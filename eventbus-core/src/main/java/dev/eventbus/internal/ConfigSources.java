package dev.eventbus.internal;

import dev.eventbus.ConfigException;
import dev.eventbus.EventBusConfig;

import java.io.IOException;
import java.io.InputStream;
import java.util.Collection;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * Reads {@code eventbus.*} settings from the classpath file, system properties and environment variables, later
 * sources overriding earlier ones. Thread-safe (stateless).
 */
public final class ConfigSources {

    /** The classpath resource read by {@code EventBus.fromConfig()}. */
    public static final String RESOURCE = "eventbus.properties";

    private ConfigSources() {
    }

    /** {@code eventbus.properties}, then system properties, then {@code EVENTBUS_*} environment variables. */
    public static Map<String, String> load(Collection<String> knownKeys) {
        Map<String, String> out = new TreeMap<>();
        out.putAll(fromResource());
        out.putAll(fromProperties(System.getProperties()));
        out.putAll(fromEnvironment(System.getenv(), knownKeys));
        return out;
    }

    public static Map<String, String> fromProperties(Properties p) {
        Map<String, String> out = new TreeMap<>();
        for (String name : p.stringPropertyNames()) {
            if (name.startsWith("eventbus.")) {
                out.put(name, p.getProperty(name));
            }
        }
        return out;
    }

    static Map<String, String> fromResource() {
        ClassLoader cl = Thread.currentThread().getContextClassLoader();
        if (cl == null) {
            cl = ConfigSources.class.getClassLoader();
        }
        try (InputStream in = cl.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                return Map.of();
            }
            Properties p = new Properties();
            p.load(in);
            return fromProperties(p);
        } catch (IOException e) {
            throw new ConfigException(RESOURCE, "cannot read " + RESOURCE + " from the classpath: " + e.getMessage(), e);
        }
    }

    /**
     * {@code EVENTBUS_RETRY_MAX_ATTEMPTS} becomes {@code eventbus.retry.max-attempts} when that is a known key (so
     * dashes survive), otherwise {@code eventbus.retry.max.attempts} (pass-through keys such as Kafka's use dots).
     */
    public static Map<String, String> fromEnvironment(Map<String, String> env, Collection<String> knownKeys) {
        Map<String, String> byEnvName = new TreeMap<>();
        for (String k : knownKeys) {
            byEnvName.put(envName(k), k);
        }
        Map<String, String> out = new TreeMap<>();
        env.forEach((name, value) -> {
            if (name.startsWith("EVENTBUS_") && !name.startsWith("EVENTBUS_TEST_")) {
                String key = byEnvName.get(name);
                out.put(key != null ? key : name.toLowerCase(Locale.ROOT).replace('_', '.'), value);
            }
        });
        return out;
    }

    /** The environment variable that sets {@code key}. */
    public static String envName(String key) {
        return key.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
    }

    /** The bus's own keys, for environment-variable mapping. */
    public static Collection<String> coreKeys() {
        return EventBusConfig.documentation().keySet();
    }
}
