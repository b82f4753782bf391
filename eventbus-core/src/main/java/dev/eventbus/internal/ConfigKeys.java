package dev.eventbus.internal;

import dev.eventbus.ConfigException;
import dev.eventbus.EventBusConfig;
import dev.eventbus.spi.TransportProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Which configuration keys exist, so that no setting goes silent: every {@code eventbus.*} key must be one of the
 * bus's own ({@link EventBusConfig}), a route, or accepted by the transport provider whose name is its namespace
 * ({@link TransportProvider#acceptsKey}). A key that is none of these fails with the key, the allowed keys and the
 * nearest one ("did you mean"); a namespace naming a transport this project ships whose module is absent names the
 * artifact to add. Stateless and thread-safe.
 */
public final class ConfigKeys {

    /** The bus's logger name: configuration warnings appear where the bus's own messages do. */
    static final Logger log = LoggerFactory.getLogger("dev.eventbus.EventBus");

    private static final String PREFIX = "eventbus.";

    private ConfigKeys() {
    }

    /**
     * Fails on the first key (in sorted order) that nothing reads.
     *
     * @param origins where keys came from ("environment variable EVENTBUS_X"), for the message; may lack keys
     * @throws ConfigException naming the key, what is allowed and the nearest allowed key
     */
    public static void check(Map<String, String> config, Map<String, String> origins,
                             Collection<TransportProvider> providers) {
        Map<String, TransportProvider> byName = byName(providers);
        Set<String> warned = new TreeSet<>();
        for (String key : new TreeSet<>(config.keySet())) {
            String problem = problemWith(key, byName, warned);
            if (problem != null) {
                String origin = origins.get(key);
                throw new ConfigException(key, problem.replace("{key}", "'" + key + "'"
                        + (origin == null ? "" : " (set by " + origin + ")")), (Throwable) null);
            }
        }
    }

    /** What is wrong with {@code key} ({@code {key}} standing for it), or null when something reads it. */
    private static String problemWith(String key, Map<String, TransportProvider> providers, Set<String> warned) {
        Set<String> core = EventBusConfig.documentation().keySet();
        if (core.contains(key) || key.startsWith(EventBusConfig.ROUTE_STREAM_PREFIX)
                || key.startsWith(EventBusConfig.ROUTE_TYPE_PREFIX)) {
            return null;
        }
        if (RateLimits.isGroupRateKey(key)) {
            return null;
        }
        if (key.startsWith(RateLimits.NAMESPACE)) {
            return RateLimits.problemWith(key);
        }
        if (key.startsWith(EventBusConfig.GROUP_PREFIX)) {
            return groupKeyProblem(key);
        }
        String rest = key.substring(PREFIX.length());
        int dot = rest.indexOf('.');
        String namespace = dot < 0 ? rest : rest.substring(0, dot);
        TransportProvider p = providers.get(namespace);
        if (p != null && dot > 0) {
            if (declaresNothing(p)) {
                // A provider written before transports declared their keys: its keys cannot be checked.
                if (warned.add(namespace)) {
                    log.warn("transport '{}' ({}) declares no configuration keys, so its settings ({}...) are not "
                            + "checked for typos", namespace, p.getClass().getName(), PREFIX + namespace + ".");
                }
                return null;
            }
            if (p.acceptsKey(key)) {
                return null;
            }
            if (!coreNamespaces().contains(namespace)) {
                Set<String> allowed = new TreeSet<>(p.configKeys());
                return "Unknown configuration key {key}" + didYouMean(key, allowed) + ": the " + namespace
                        + " transport accepts " + allowed;
            }
        }
        if (dot < 0 || coreNamespaces().contains(namespace)) {
            return "Unknown configuration key {key}" + didYouMean(key, core) + ": the bus's own keys are "
                    + new TreeSet<>(core) + " (transport settings go under eventbus.<transport>.*)";
        }
        String artifact = artifactOf(namespace);
        if (artifact != null) {
            return "Configuration key {key} is a setting of the " + namespace + " transport, which is not on the "
                    + "classpath: add the Maven artifact " + artifact + " (transports on the classpath: "
                    + providers.keySet() + ")";
        }
        Set<String> namespaces = new TreeSet<>(providers.keySet());
        namespaces.addAll(List.of("kafka", "rabbitmq", "jdbc"));
        namespaces.addAll(coreNamespaces());
        String near = nearest(namespace, namespaces);
        StringBuilder sb = new StringBuilder("Unknown configuration key {key}: '").append(namespace)
                .append("' is neither a namespace of the bus nor a transport on the classpath ")
                .append(providers.keySet());
        if (near != null) {
            sb.append("; did you mean '").append(PREFIX).append(near).append(rest.substring(namespace.length()))
                    .append("'?");
            if (!providers.containsKey(near) && artifactOf(near) != null) {
                sb.append(" (the ").append(near).append(" transport needs the Maven artifact ")
                        .append(artifactOf(near)).append(')');
            }
        }
        return sb.toString();
    }

    /** The settings a group may have under {@code eventbus.group.<group>.}. */
    public static final List<String> GROUP_SETTINGS = List.of(EventBusConfig.GROUP_BATCH_MAX_SIZE,
            EventBusConfig.GROUP_BATCH_MAX_WAIT, EventBusConfig.GROUP_RATE_SUFFIX.substring(1));

    /** The group a per-group key names, or null when it ends in no known setting. */
    public static String groupOf(String key) {
        for (String setting : GROUP_SETTINGS) {
            String suffix = "." + setting;
            if (key.endsWith(suffix) && key.length() > EventBusConfig.GROUP_PREFIX.length() + suffix.length()) {
                return key.substring(EventBusConfig.GROUP_PREFIX.length(), key.length() - suffix.length());
            }
        }
        return null;
    }

    private static String groupKeyProblem(String key) {
        if (groupOf(key) != null) {
            return null;
        }
        List<String> allowed = new java.util.ArrayList<>();
        for (String setting : GROUP_SETTINGS) {
            allowed.add(EventBusConfig.GROUP_PREFIX + "<group>." + setting);
        }
        String rest = key.substring(EventBusConfig.GROUP_PREFIX.length());
        int dot = rest.indexOf('.');
        String near = null;
        if (dot > 0) {
            // Settings are short and alike: suggest the nearest one within half its length.
            String typo = rest.substring(dot + 1);
            int best = Integer.MAX_VALUE;
            for (String setting : GROUP_SETTINGS) {
                int d = distance(typo, setting);
                if (d < best && d <= setting.length() / 2) {
                    best = d;
                    near = setting;
                }
            }
        }
        return "Unknown configuration key {key}" + (near == null ? "" : " (did you mean '" + EventBusConfig.GROUP_PREFIX
                + rest.substring(0, dot) + "." + near + "'?)") + ": per-group keys are " + allowed;
    }

    /** " (did you mean 'x'?)" for the nearest of {@code allowed}, or "" when none is near. */
    private static String didYouMean(String key, Collection<String> allowed) {
        String near = nearest(key, allowed);
        return near == null ? "" : " (did you mean '" + near + "'?)";
    }

    /**
     * True for a provider that neither lists keys nor overrides {@link TransportProvider#acceptsKey}: written before
     * providers declared their keys, so nothing can be said about its keys.
     */
    static boolean declaresNothing(TransportProvider p) {
        if (!p.configKeys().isEmpty()) {
            return false;
        }
        try {
            return p.getClass().getMethod("acceptsKey", String.class).getDeclaringClass() == TransportProvider.class;
        } catch (NoSuchMethodException e) {
            return true;
        }
    }

    /** The first segments of the bus's own keys ({@code retry}, {@code dispatch}, ...) and {@code route}. */
    static Set<String> coreNamespaces() {
        Set<String> roots = new TreeSet<>();
        for (String k : EventBusConfig.documentation().keySet()) {
            String rest = k.substring(PREFIX.length());
            int dot = rest.indexOf('.');
            roots.add(dot < 0 ? rest : rest.substring(0, dot));
        }
        roots.add("route");
        roots.add("group");
        return roots;
    }

    static Map<String, TransportProvider> byName(Collection<TransportProvider> providers) {
        Map<String, TransportProvider> out = new TreeMap<>();
        for (TransportProvider p : providers) {
            out.putIfAbsent(p.name(), p);
        }
        return out;
    }

    /** The Maven artifact of a transport this project ships, by its name; null for any other name. */
    public static String artifactOf(String transport) {
        return switch (transport) {
            case "kafka" -> "dev.eventbus:eventbus-kafka";
            case "rabbitmq" -> "dev.eventbus:eventbus-rabbitmq";
            case "jdbc" -> "dev.eventbus:eventbus-jdbc-outbox";
            default -> null;
        };
    }

    /**
     * The candidate nearest to {@code typo} by edit distance (a swap of neighbours counts one), if near enough to
     * be a typo of it: within 2 edits (3 for names of 12 characters or more); a prefix of it also counts
     * ({@code rabbit} for {@code rabbitmq}). Null when none is.
     */
    public static String nearest(String typo, Collection<String> candidates) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String c : new TreeSet<>(candidates)) {
            int d = distance(typo, c);
            if (d < bestDistance) {
                best = c;
                bestDistance = d;
            }
        }
        if (best == null) {
            return null;
        }
        boolean prefix = typo.length() >= 3 && best.startsWith(typo);
        return bestDistance <= (best.length() >= 12 ? 3 : 2) || prefix ? best : null;
    }

    /** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
    static int distance(String a, String b) {
        int[][] d = new int[a.length() + 1][b.length() + 1];
        for (int i = 0; i <= a.length(); i++) {
            d[i][0] = i;
        }
        for (int j = 0; j <= b.length(); j++) {
            d[0][j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                int v = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
                if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
                    v = Math.min(v, d[i - 2][j - 2] + 1);
                }
                d[i][j] = v;
            }
        }
        return d[a.length()][b.length()];
    }

    /**
     * The key an {@code EVENTBUS_*} environment variable sets, or null when nothing reads it: a declared key whose
     * variable name it is ({@code EVENTBUS_RABBITMQ_KEY_ORDER} to {@code eventbus.rabbitmq.key-order}); else, under
     * a transport's namespace, the first spelling the transport accepts, dots tried before dashes
     * ({@code EVENTBUS_KAFKA_BOOTSTRAP_SERVERS} to {@code eventbus.kafka.bootstrap.servers}); else a route.
     */
    static String keyOfVariable(String variable, Map<String, String> declaredByVariable,
                                Map<String, TransportProvider> providers) {
        String declared = declaredByVariable.get(variable);
        if (declared != null) {
            return declared;
        }
        String dotted = variable.toLowerCase(java.util.Locale.ROOT).replace('_', '.');
        if (dotted.startsWith(EventBusConfig.ROUTE_STREAM_PREFIX) || dotted.startsWith(EventBusConfig.ROUTE_TYPE_PREFIX)) {
            return dotted.length() > EventBusConfig.ROUTE_TYPE_PREFIX.length() ? dotted : null;
        }
        if (dotted.startsWith(EventBusConfig.GROUP_PREFIX)) {
            // EVENTBUS_GROUP_<GROUP>_BATCH_MAX_SIZE: the words between are the group name, joined by '-'.
            for (String setting : GROUP_SETTINGS) {
                String tail = "." + setting.replace('-', '.');
                if (dotted.endsWith(tail) && dotted.length() > EventBusConfig.GROUP_PREFIX.length() + tail.length()) {
                    String group = dotted.substring(EventBusConfig.GROUP_PREFIX.length(), dotted.length() - tail.length());
                    return EventBusConfig.GROUP_PREFIX + group.replace('.', '-') + "." + setting;
                }
            }
            return null;
        }
        String[] words = variable.substring("EVENTBUS_".length()).toLowerCase(java.util.Locale.ROOT).split("_");
        TransportProvider p = words.length > 1 ? providers.get(words[0]) : null;
        if (p == null) {
            return null;
        }
        if (declaresNothing(p)) {
            return dotted; // unchecked, as before providers declared keys
        }
        int joints = words.length - 2;
        if (joints > 12) {
            return p.acceptsKey(dotted) ? dotted : null;
        }
        // Every spelling of the words joined by '.' or '-': fewer dashes first, so pass-through keys win.
        Map<Integer, List<Integer>> byDashes = new TreeMap<>();
        for (int mask = 0; mask < (1 << joints); mask++) {
            byDashes.computeIfAbsent(Integer.bitCount(mask), n -> new java.util.ArrayList<>()).add(mask);
        }
        for (List<Integer> masks : byDashes.values()) {
            for (int mask : masks) {
                StringBuilder k = new StringBuilder(PREFIX).append(words[0]).append('.').append(words[1]);
                for (int i = 2; i < words.length; i++) {
                    k.append((mask & (1 << (i - 2))) != 0 ? '-' : '.').append(words[i]);
                }
                if (p.acceptsKey(k.toString())) {
                    return k.toString();
                }
            }
        }
        return null;
    }

    /** Every declared key by the environment variable that sets it. */
    static Map<String, String> declaredByVariable(Collection<TransportProvider> providers) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String k : EventBusConfig.documentation().keySet()) {
            out.put(ConfigSources.envName(k), k);
        }
        for (TransportProvider p : providers) {
            for (String k : p.configKeys()) {
                out.putIfAbsent(ConfigSources.envName(k), k);
            }
        }
        RateLimits.providers().forEach(p -> p.configKeys().forEach(k -> out.putIfAbsent(ConfigSources.envName(k), k)));
        return out;
    }
}
