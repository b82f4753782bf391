package dev.eventbus.spring.internal;

import dev.eventbus.EventBusConfig;
import dev.eventbus.spi.TransportProvider;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.EnumerablePropertySource;
import org.springframework.core.env.PropertySource;
import org.springframework.core.env.SystemEnvironmentPropertySource;

import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeMap;

/**
 * The {@code eventbus.*} settings of a Spring application, flattened as the bus reads them: every property source
 * (application.yml/properties, profiles, system properties, {@code EVENTBUS_*} environment variables, test
 * properties) in Spring's precedence, placeholders resolved, the starter's own {@code eventbus.spring.*} keys left
 * out. Keys are taken as written (kebab-case, as documented), so a typo reaches the bus's own key check.
 *
 * <p>Immutable and thread-safe once built.
 */
public final class EventBusSettings {

    private static final String SPRING_PREFIX = "eventbus.spring.";

    private final Map<String, String> all;
    private final boolean inMemory;

    public EventBusSettings(Map<String, String> all, boolean inMemory) {
        this.all = Collections.unmodifiableMap(new TreeMap<>(all));
        this.inMemory = inMemory;
    }

    /** Reads the settings from {@code env}. */
    public static EventBusSettings from(ConfigurableEnvironment env, boolean inMemory) {
        Map<String, String> byEnvName = new HashMap<>();
        for (String k : knownKeys()) {
            byEnvName.put(k.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_'), k);
        }
        Map<String, String> out = new TreeMap<>();
        for (PropertySource<?> ps : env.getPropertySources()) {
            if (!(ps instanceof EnumerablePropertySource<?> e) || "configurationProperties".equals(ps.getName())) {
                continue;
            }
            boolean environment = ps instanceof SystemEnvironmentPropertySource;
            for (String name : e.getPropertyNames()) {
                String key = environment ? fromEnvironmentName(name, byEnvName) : name;
                if (key == null || !key.startsWith("eventbus.") || key.startsWith(SPRING_PREFIX)
                        || out.containsKey(key)) {
                    continue; // earlier sources take precedence
                }
                Object v = ps.getProperty(name);
                if (v != null) {
                    out.put(key, env.resolvePlaceholders(String.valueOf(v)));
                }
            }
        }
        return new EventBusSettings(out, inMemory);
    }

    /** {@code EVENTBUS_RETRY_MAX_ATTEMPTS} to a known dashed key, else to lower case with dots (pass-through keys). */
    private static String fromEnvironmentName(String name, Map<String, String> byEnvName) {
        if (!name.startsWith("EVENTBUS_") || name.startsWith("EVENTBUS_TEST_") || name.startsWith("EVENTBUS_SPRING_")) {
            return name.startsWith("eventbus.") ? name : null;
        }
        String known = byEnvName.get(name);
        return known != null ? known : name.toLowerCase(Locale.ROOT).replace('_', '.');
    }

    private static Set<String> knownKeys() {
        Set<String> keys = new LinkedHashSet<>(EventBusConfig.documentation().keySet());
        for (TransportProvider p : ServiceLoader.load(TransportProvider.class, EventBusSettings.class.getClassLoader())) {
            keys.addAll(p.configKeys());
        }
        return keys;
    }

    /** Every {@code eventbus.*} setting (outside {@code eventbus.spring.*}). */
    public Map<String, String> all() {
        return all;
    }

    /** Whether every transport is replaced by the in-memory one. */
    public boolean inMemory() {
        return inMemory;
    }

    /**
     * What the bus is built from: everything, or in in-memory mode only the bus's own keys without the transport
     * choice and routes (no broker settings, so nothing connects anywhere).
     */
    public Map<String, String> busConfig() {
        if (!inMemory) {
            return all;
        }
        Map<String, String> out = new TreeMap<>();
        Set<String> core = EventBusConfig.documentation().keySet();
        all.forEach((k, v) -> {
            if (core.contains(k) && !k.equals(EventBusConfig.TRANSPORT)) {
                out.put(k, v);
            }
        });
        out.put(EventBusConfig.TRANSPORT, "memory");
        return out;
    }

    /** The default transport's name. */
    public String defaultTransport() {
        String t = busConfig().get(EventBusConfig.TRANSPORT);
        return t == null || t.isBlank() ? "memory" : t.trim();
    }

    /** The default transport and every transport a route names, in that order. */
    public Set<String> transportNames() {
        Set<String> names = new LinkedHashSet<>();
        names.add(defaultTransport());
        busConfig().forEach((k, v) -> {
            if (k.startsWith(EventBusConfig.ROUTE_STREAM_PREFIX) || k.startsWith(EventBusConfig.ROUTE_TYPE_PREFIX)) {
                names.add(v.trim());
            }
        });
        return names;
    }

    /** The value of {@code key}, or null. */
    public String get(String key) {
        return all.get(key);
    }
}
