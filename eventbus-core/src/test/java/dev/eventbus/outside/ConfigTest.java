package dev.eventbus.outside;

import dev.eventbus.ConfigException;
import dev.eventbus.EventBus;
import dev.eventbus.EventBusConfig;
import dev.eventbus.InMemoryTransport;
import org.junit.jupiter.api.Test;

import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Configuration: keys, validation at build time, transport selection by name. */
class ConfigTest {

    private static Properties props(String... kv) {
        Properties p = new Properties();
        for (int i = 0; i < kv.length; i += 2) {
            p.setProperty(kv[i], kv[i + 1]);
        }
        return p;
    }

    @Test
    void buildsFromPropertiesWithTheInMemoryDefault() {
        try (EventBus bus = EventBus.fromConfig(props(EventBusConfig.SERVICE, "billing",
                EventBusConfig.RETRY_MAX_ATTEMPTS, "7", EventBusConfig.DISPATCH, "async"))) {
            assertThat(bus.serviceName()).isEqualTo("billing");
            assertThat(bus.transport("memory")).isInstanceOf(InMemoryTransport.class);
            assertThat(bus.toString()).contains("dispatch=async");
        }
    }

    @Test
    void invalidValuesFailNamingTheKeyAndWhatIsAllowed() {
        assertThatThrownBy(() -> EventBus.fromConfig(props(EventBusConfig.RETRY_MAX_ATTEMPTS, "many")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("eventbus.retry.max-attempts").hasMessageContaining("'many'")
                .hasMessageContaining("an integer from 1 to 1000");
        assertThatThrownBy(() -> EventBus.fromConfig(props(EventBusConfig.DISPATCH, "parallel")))
                .hasMessageContaining("eventbus.dispatch").hasMessageContaining("one of sync, async");
        assertThatThrownBy(() -> EventBus.fromConfig(props(EventBusConfig.DISPATCH_OVERFLOW, "drop")))
                .hasMessageContaining("one of block, caller-runs, fail");
        assertThatThrownBy(() -> EventBus.fromConfig(props(EventBusConfig.RETRY_INITIAL_DELAY, "soon")))
                .hasMessageContaining("eventbus.retry.initial-delay").hasMessageContaining("250ms");
        assertThatThrownBy(() -> EventBus.fromConfig(props(EventBusConfig.MEMORY_SERIALIZE, "yes")))
                .hasMessageContaining("true or false");
    }

    @Test
    void misspelledKeysFailInsteadOfBeingIgnored() {
        assertThatThrownBy(() -> EventBus.fromConfig(props("eventbus.retry.max-atempts", "3")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("eventbus.retry.max-atempts")
                .hasMessageContaining("eventbus.retry.max-attempts");
        assertThatThrownBy(() -> EventBus.fromConfig(props("eventbus.tranport", "kafka")))
                .hasMessageContaining("eventbus.tranport");
    }

    @Test
    void aTransportWhoseModuleIsMissingNamesTheArtifactToAdd() {
        // Core's own tests run without the transport modules on the classpath.
        assertThatThrownBy(() -> EventBus.fromConfig(props(EventBusConfig.TRANSPORT, "kafka")))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("eventbus.transport").hasMessageContaining("dev.eventbus:eventbus-kafka")
                .hasMessageContaining("memory");
        assertThatThrownBy(() -> EventBus.fromConfig(props(EventBusConfig.TRANSPORT, "carrier-pigeon")))
                .hasMessageContaining("'carrier-pigeon'");
        assertThatThrownBy(() -> EventBus.fromConfig(props(EventBusConfig.ROUTE_STREAM_PREFIX + "tasks", "rabbitmq")))
                .hasMessageContaining("eventbus.route.stream.tasks").hasMessageContaining("dev.eventbus:eventbus-rabbitmq");
    }

    @Test
    void secretsAreNotPrintedInErrors() {
        ConfigException e = new ConfigException("eventbus.rabbitmq.password", "hunter2", "a password");
        assertThat(e.getMessage()).doesNotContain("hunter2").contains("****");
        ConfigException uri = new ConfigException("eventbus.rabbitmq.uri", "amqp://u:hunter2@h", "a URI");
        assertThat(uri.getMessage()).doesNotContain("hunter2");
    }

    @Test
    void environmentVariablesMapToDashedKeys() {
        java.util.Map<String, String> env = dev.eventbus.internal.ConfigSources.fromEnvironment(java.util.Map.of(
                "EVENTBUS_RETRY_MAX_ATTEMPTS", "9", "EVENTBUS_KAFKA_BOOTSTRAP_SERVERS", "h:9092",
                "EVENTBUS_TEST_KAFKA_BOOTSTRAP", "ignored", "PATH", "/bin"),
                EventBusConfig.documentation().keySet());
        assertThat(env).containsExactlyInAnyOrderEntriesOf(java.util.Map.of(
                "eventbus.retry.max-attempts", "9", "eventbus.kafka.bootstrap.servers", "h:9092"));
    }

    @Test
    void systemPropertiesOverrideTheClasspathFile() {
        // src/test/resources/eventbus.properties sets the service to "from-file" and the default stream to "file-stream".
        System.setProperty(EventBusConfig.DEFAULT_STREAM, "from-system-property");
        try (EventBus bus = EventBus.fromConfig()) {
            assertThat(bus.serviceName()).isEqualTo("from-file");
            assertThat(bus.messageFor(new Events.Unannotated("x"), dev.eventbus.PublishOptions.none()).stream())
                    .isEqualTo("from-system-property");
        } finally {
            System.clearProperty(EventBusConfig.DEFAULT_STREAM);
        }
    }
}
