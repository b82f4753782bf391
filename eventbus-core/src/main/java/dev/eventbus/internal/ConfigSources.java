package dev.eventbus.internal;

import dev.eventbus.ConfigException;
import dev.eventbus.EventBusConfig;
import dev.eventbus.spi.TransportProvider;

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

    /**
     * Settings and where each came from: {@code values} by key, {@code origins} by key as a phrase for messages
     * ("environment variable EVENTBUS_RETRY_MAX_ATTEMPTS"). Immutable.
     */
    public record Loaded(Map<String, String> values, Map<String, String> origins) {
        public Loaded {
            values = Map.copyOf(values);
            origins = Map.copyOf(origins);
        }
    }

    /**
     * {@code eventbus.properties}, then {@code system} properties, then {@code EVENTBUS_*} variables of {@code env},
     * later sources overriding earlier ones. A variable is mapped to the key that reads it (see
     * {@link ConfigKeys#keyOfVariable}); one that no key reads is logged at WARN, with the nearest known variable,
     * and ignored: environments carry variables of other programs. {@code EVENTBUS_TEST_*} are the tests' own.
     */
    public static Loaded load(Map<String, String> env, Properties system, Collection<TransportProvider> providers) {
        Map<String, String> values = new TreeMap<>();
        Map<String, String> origins = new TreeMap<>();
        fromResource().forEach((k, v) -> {
            values.put(k, v);
            origins.put(k, RESOURCE + " on the classpath");
        });
        fromProperties(system).forEach((k, v) -> {
            values.put(k, v);
            origins.put(k, "a system property");
        });
        Map<String, TransportProvider> byName = ConfigKeys.byName(providers);
        Map<String, String> declared = ConfigKeys.declaredByVariable(providers);
        for (Map.Entry<String, String> e : new TreeMap<>(env).entrySet()) {
            String name = e.getKey();
            if (!name.startsWith("EVENTBUS_") || name.startsWith("EVENTBUS_TEST_")) {
                continue;
            }
            String key = ConfigKeys.keyOfVariable(name, declared, byName);
            if (key == null) {
                warnUnknown(name, declared.keySet());
                continue;
            }
            values.put(key, e.getValue());
            origins.put(key, "environment variable " + name);
        }
        return new Loaded(values, origins);
    }

    private static void warnUnknown(String name, Collection<String> known) {
        String near = ConfigKeys.nearest(name, known);
        String rest = name.substring("EVENTBUS_".length());
        int u = rest.indexOf('_');
        String artifact = u < 0 ? null : ConfigKeys.artifactOf(rest.substring(0, u).toLowerCase(Locale.ROOT));
        ConfigKeys.log.warn("environment variable {} is not a setting of the bus or of a transport on the classpath; "
                        + "ignored{}", name,
                near != null ? " (did you mean " + near + "?)"
                        : artifact != null ? " (the " + rest.substring(0, u).toLowerCase(Locale.ROOT)
                        + " transport needs the Maven artifact " + artifact + ")" : "");
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

}
