package dev.eventbus.jdbc;

import dev.eventbus.ConfigException;
import dev.eventbus.jdbc.internal.DriverManagerDataSource;
import dev.eventbus.spi.TransportProvider;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Every {@code eventbus.jdbc.*} key is declared by the provider (so the bus refuses a typo and maps environment
 * variables to it), and every declared key is really read by a component.
 */
class JdbcConfigTest {

    private static final TransportProvider PROVIDER = provider();

    private static TransportProvider provider() {
        for (TransportProvider p : ServiceLoader.load(TransportProvider.class)) {
            if (p.name().equals("jdbc")) {
                return p;
            }
        }
        throw new AssertionError("no jdbc TransportProvider found by ServiceLoader");
    }

    /** The key constants of {@link JdbcConfig} (its {@code DEFAULT_*} constants are values, not keys). */
    private static Set<String> keyConstants() throws IllegalAccessException {
        Set<String> keys = new TreeSet<>();
        for (Field f : JdbcConfig.class.getDeclaredFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class
                    && !f.getName().startsWith("DEFAULT_")) {
                keys.add((String) f.get(null));
            }
        }
        return keys;
    }

    @Test
    void everyKeyConstantIsDeclaredAndAccepted() throws Exception {
        Set<String> constants = keyConstants();
        assertThat(constants).hasSizeGreaterThanOrEqualTo(25).allMatch(k -> k.startsWith("eventbus.jdbc."));
        assertThat(PROVIDER.configKeys()).containsExactlyInAnyOrderElementsOf(constants);
        for (String k : constants) {
            assertThat(PROVIDER.acceptsKey(k)).as(k).isTrue();
        }
        assertThat(PROVIDER.acceptsKey("eventbus.jdbc.tabel-prefix")).isFalse();
        assertThat(PROVIDER.acceptsKey("eventbus.jdbc.outbox.bogus")).isFalse();
    }

    /** A key spelt out anywhere in the module's code (not through a constant) would escape the check above. */
    @Test
    void everyKeyNamedInTheSourcesIsDeclared() throws IOException {
        Path sources = Path.of("src/main/java");
        assertThat(sources).as("run from the module directory").isDirectory();
        Pattern literal = Pattern.compile("\"(eventbus\\.jdbc\\.[a-z0-9.-]*[a-z0-9])\"");
        Set<String> named = new TreeSet<>();
        try (Stream<Path> files = Files.walk(sources)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                Matcher m = literal.matcher(Files.readString(f));
                while (m.find()) {
                    named.add(m.group(1));
                }
            }
        }
        assertThat(named).contains(JdbcConfig.URL, JdbcConfig.CONNECT_TIMEOUT);
        assertThat(PROVIDER.configKeys()).containsAll(named);
    }

    /** A declared key nobody reads would be accepted and do nothing: each one fails on a bad value. */
    @Test
    void everyDeclaredKeyIsReadAndABadValueNamesIt() {
        DriverManagerDataSource ds = new DriverManagerDataSource(
                "jdbc:h2:mem:keys-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1", null, null);
        List<Function<Map<String, String>, Object>> readers = new ArrayList<>(builderConfigs(ds));
        readers.add(m -> OutboxRelay.builder(ds, new TestTarget("t")).config(m));
        readers.add(m -> JdbcTransport.fromConfig(m)); // last: it connects when nothing is wrong
        List<String> unread = new ArrayList<>();
        for (String key : PROVIDER.configKeys()) {
            if (key.equals(JdbcConfig.USER) || key.equals(JdbcConfig.PASSWORD)) {
                continue; // any text is a valid user name or password
            }
            boolean named = false;
            for (Function<Map<String, String>, Object> reader : readers) {
                Map<String, String> config = key.equals(JdbcConfig.URL) ? Map.of(key, "!bad")
                        : Map.of(JdbcConfig.URL, "jdbc:h2:mem:keys-" + UUID.randomUUID() + ";DB_CLOSE_DELAY=-1",
                        key, "!bad");
                try {
                    Object built = reader.apply(config);
                    if (built instanceof AutoCloseable c) {
                        c.close();
                    }
                } catch (ConfigException e) {
                    assertThat(e.key()).as("the key named for a bad %s", key).isEqualTo(key);
                    assertThat(e.getMessage()).contains(key);
                    named = true;
                    break;
                } catch (Exception e) {
                    throw new AssertionError(key + ": " + e, e);
                }
            }
            if (!named) {
                unread.add(key);
            }
        }
        assertThat(unread).as("declared keys that no component reads").isEmpty();
    }

    /**
     * {@code X.builder(DataSource).config(Map)} of every public class of the package that has one ({@code Outbox},
     * {@code Inbox}, and any component added later the same way), so that their keys count as read.
     */
    private static List<Function<Map<String, String>, Object>> builderConfigs(javax.sql.DataSource ds) {
        List<Function<Map<String, String>, Object>> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(Path.of("src/main/java/dev/eventbus/jdbc"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).sorted().toList()) {
                String name = f.getFileName().toString().replace(".java", "");
                Class<?> type;
                try {
                    type = Class.forName("dev.eventbus.jdbc." + name);
                } catch (ClassNotFoundException e) {
                    continue; // package-info
                }
                java.lang.reflect.Method builder;
                try {
                    builder = type.getMethod("builder", javax.sql.DataSource.class);
                } catch (NoSuchMethodException e) {
                    continue;
                }
                java.lang.reflect.Method config;
                try {
                    config = builder.getReturnType().getMethod("config", Map.class);
                } catch (NoSuchMethodException e) {
                    continue;
                }
                out.add(m -> {
                    try {
                        return config.invoke(builder.invoke(null, ds), m);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        if (e.getCause() instanceof RuntimeException re) {
                            throw re;
                        }
                        throw new IllegalStateException(e.getCause());
                    } catch (IllegalAccessException e) {
                        throw new IllegalStateException(e);
                    }
                });
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        assertThat(out).as("Outbox and Inbox found").hasSizeGreaterThanOrEqualTo(2);
        return out;
    }
}
