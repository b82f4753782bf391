package dev.eventbus.spring;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.eventbus.EventBusConfig;
import dev.eventbus.jdbc.JdbcConfig;
import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.rabbitmq.RabbitMqTransportProvider;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Keeps {@code META-INF/additional-spring-configuration-metadata.json} (IDE completion for every {@code eventbus.*}
 * key) in step with the keys the bus and the transports define. The file is generated: descriptions come from
 * {@code EventBusConfig.documentation()}, {@code KafkaConfig.documentation()} and the javadoc of the
 * {@code RabbitMqConfig} and {@code JdbcConfig} constants. When a key is added, regenerate it with
 * {@code mvn -pl eventbus-spring-boot-starter -am verify -Dtest=ConfigurationMetadataTest
 * -Dsurefire.failIfNoSpecifiedTests=false -Deventbus.regenerate-metadata=true}.
 */
class ConfigurationMetadataTest {

    static final Path FILE = Path.of("src/main/resources/META-INF/additional-spring-configuration-metadata.json");

    @Test
    void theMetadataFileListsEveryKeyOfTheBusAndTheTransports() throws IOException {
        String generated = generate();
        if (Boolean.getBoolean("eventbus.regenerate-metadata")) {
            Files.writeString(FILE, generated, StandardCharsets.UTF_8);
        }
        String committed = Files.readString(FILE, StandardCharsets.UTF_8);
        List<String> keys = new ArrayList<>();
        keys.addAll(EventBusConfig.documentation().keySet());
        keys.addAll(KafkaConfig.documentation().keySet());
        keys.addAll(rabbitKeys());
        keys.addAll(JdbcConfig.keys());
        for (String key : keys) {
            assertThat(committed).as("metadata for " + key).contains("\"name\" : \"" + key + "\"");
        }
        assertThat(committed).as(FILE + " is out of date: regenerate it (see this test's javadoc)").isEqualTo(generated);
    }

    static String generate() throws IOException {
        Map<String, Map<String, Object>> props = new TreeMap<>();
        EventBusConfig.documentation().forEach((k, d) -> props.put(k, entry(k, d, EventBusConfig.class.getName())));
        KafkaConfig.documentation().forEach((k, d) -> props.put(k, entry(k, d, KafkaConfig.class.getName())));
        Map<String, String> rabbit = javadocOfConstants(Path.of(
                "../eventbus-rabbitmq/src/main/java/dev/eventbus/rabbitmq/RabbitMqConfig.java"));
        for (String k : rabbitKeys()) {
            props.put(k, entry(k, rabbit.getOrDefault(k, ""), "dev.eventbus.rabbitmq.RabbitMqConfig"));
        }
        Map<String, String> jdbc = javadocOfConstants(Path.of(
                "../eventbus-jdbc-outbox/src/main/java/dev/eventbus/jdbc/JdbcConfig.java"));
        for (String k : JdbcConfig.keys()) {
            props.put(k, entry(k, jdbc.getOrDefault(k, ""), JdbcConfig.class.getName()));
        }
        List<Map<String, Object>> properties = new ArrayList<>(props.values());
        properties.add(mapEntry("eventbus.route.stream", "Routes by stream: eventbus.route.stream.<stream>=<transport>."));
        properties.add(mapEntry("eventbus.route.type", "Routes by event type: eventbus.route.type.<type name>=<transport>."));

        Map<String, Object> root = new LinkedHashMap<>();
        root.put("properties", properties);
        root.put("hints", List.of(
                hint(EventBusConfig.TRANSPORT, "memory", "kafka", "rabbitmq", "jdbc"),
                hint(EventBusConfig.DISPATCH, "sync", "async"),
                hint(EventBusConfig.DISPATCH_OVERFLOW, "block", "caller-runs", "fail"),
                hint(EventBusConfig.UNKNOWN_TYPES, "dead-letter", "ignore"),
                hint(JdbcConfig.CREATE_SCHEMA, "embedded", "always", "never"),
                hint(JdbcConfig.DIALECT, "h2", "postgresql", "mariadb", "mysql")));
        return new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(root) + "\n";
    }

    /** The provider's keys, and every documented constant of RabbitMqConfig (the provider may not list them). */
    static java.util.Set<String> rabbitKeys() throws IOException {
        java.util.Set<String> keys = new java.util.TreeSet<>(new RabbitMqTransportProvider().configKeys());
        for (String k : javadocOfConstants(Path.of(
                "../eventbus-rabbitmq/src/main/java/dev/eventbus/rabbitmq/RabbitMqConfig.java")).keySet()) {
            if (k.startsWith("eventbus.rabbitmq.")) {
                keys.add(k);
            }
        }
        return keys;
    }

    private static Map<String, Object> entry(String key, String description, String source) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", key);
        m.put("type", "java.lang.String");
        m.put("description", description);
        m.put("sourceType", source);
        Matcher d = Pattern.compile("\\(default: ([^)]+)\\)").matcher(description);
        if (d.find()) {
            m.put("defaultValue", d.group(1).trim());
        }
        return m;
    }

    private static Map<String, Object> mapEntry(String key, String description) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", key);
        m.put("type", "java.util.Map<java.lang.String,java.lang.String>");
        m.put("description", description);
        m.put("sourceType", EventBusConfig.class.getName());
        return m;
    }

    private static Map<String, Object> hint(String key, String... values) {
        List<Map<String, Object>> vs = new ArrayList<>();
        for (String v : values) {
            vs.add(Map.of("value", v));
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", key);
        m.put("values", vs);
        return m;
    }

    /** Key to the first sentence-ish text of the javadoc on each {@code public static final String} constant. */
    static Map<String, String> javadocOfConstants(Path source) throws IOException {
        String text = Files.readString(source, StandardCharsets.UTF_8);
        Matcher m = Pattern.compile("/\\*\\*((?:(?!\\*/).)*)\\*/\\s*public static final String \\w+ = \"([^\"]+)\";",
                Pattern.DOTALL).matcher(text);
        Map<String, String> out = new TreeMap<>();
        while (m.find()) {
            String doc = m.group(1).replaceAll("(?m)^\\s*\\*\\s?", " ")
                    .replaceAll("\\{@(?:code|literal) ([^}]*)}", "$1")
                    .replaceAll("\\{@(?:link|linkplain|value) [^}]*?#?(\\w+)}", "$1")
                    .replaceAll("<[^>]+>", "")
                    .replaceAll("\\s+", " ").trim();
            out.put(m.group(2), doc);
        }
        return out;
    }
}
