package dev.eventbus;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.eventbus.internal.ConfigSources;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Configuration never goes silent: every key is read by the bus or by the transport whose namespace it is under,
 * or the build fails naming it, what is allowed and the nearest key. Environment variables map to dashed and
 * dotted keys; one nothing reads is a WARN. Uses {@link LoopbackTransportProvider}, registered for the tests.
 */
class ConfigValidationTest {

    private final ListAppender<ILoggingEvent> logged = new ListAppender<>();
    private final Logger busLogger = (Logger) LoggerFactory.getLogger(EventBus.class);
    private Level levelBefore;

    @BeforeEach
    void captureWarnings() {
        levelBefore = busLogger.getLevel();
        busLogger.setLevel(Level.WARN); // logback-test.xml keeps dev.eventbus at ERROR
        logged.start();
        busLogger.addAppender(logged);
    }

    @AfterEach
    void stopCapturing() {
        busLogger.detachAppender(logged);
        busLogger.setLevel(levelBefore);
    }

    private static Properties props(String... kv) {
        Properties p = new Properties();
        for (int i = 0; i < kv.length; i += 2) {
            p.setProperty(kv[i], kv[i + 1]);
        }
        return p;
    }

    /** A bus from the classpath file, {@code system} as system properties and {@code env} as the environment. */
    private static EventBus fromSources(Map<String, String> env, Properties system) {
        return EventBus.builder().configFrom(ConfigSources.load(env, system, BusSetup.providers())).build();
    }

    private List<String> warnings() {
        return logged.list.stream().filter(e -> e.getLevel() == Level.WARN).map(ILoggingEvent::getFormattedMessage)
                .toList();
    }

    @Test
    void anUnknownKeyUnderATransportsNamespaceNamesTheAllowedKeysAndTheNearest() {
        assertThatThrownBy(() -> EventBus.fromConfig(props("eventbus.loopback.keyorder", "false")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Unknown configuration key 'eventbus.loopback.keyorder' (did you mean "
                        + "'eventbus.loopback.key-order'?): the loopback transport accepts "
                        + "[eventbus.loopback.key-order, eventbus.loopback.uri]")
                .extracting(e -> ((ConfigException) e).key()).isEqualTo("eventbus.loopback.keyorder");
        assertThatThrownBy(() -> EventBus.fromConfig(props("eventbus.loopback.bogus", "1")))
                .hasMessage("Unknown configuration key 'eventbus.loopback.bogus': the loopback transport accepts "
                        + "[eventbus.loopback.key-order, eventbus.loopback.uri]");
    }

    @Test
    void keysATransportPassesThroughAreAccepted() {
        try (EventBus bus = EventBus.fromConfig(props(EventBusConfig.TRANSPORT, "loopback",
                "eventbus.loopback.client.socket.timeout", "5", LoopbackTransportProvider.KEY_ORDER, "false"))) {
            assertThat(bus.transport("loopback")).isInstanceOf(InMemoryTransport.class);
        }
    }

    @Test
    void aMisspeltNamespaceSuggestsTheTransportOnTheClasspath() {
        assertThatThrownBy(() -> EventBus.fromConfig(props("eventbus.loopbak.uri", "mem://x")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Unknown configuration key 'eventbus.loopbak.uri': 'loopbak' is neither a namespace of "
                        + "the bus nor a transport on the classpath [loopback, memory]; did you mean "
                        + "'eventbus.loopback.uri'?");
    }

    @Test
    void aMisspeltNamespaceOfAnAbsentTransportNamesItsArtifact() {
        assertThatThrownBy(() -> EventBus.fromConfig(props("eventbus.rabbit.uri", "amqp://localhost")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Unknown configuration key 'eventbus.rabbit.uri': 'rabbit' is neither a namespace of "
                        + "the bus nor a transport on the classpath [loopback, memory]; did you mean "
                        + "'eventbus.rabbitmq.uri'? (the rabbitmq transport needs the Maven artifact "
                        + "dev.eventbus:eventbus-rabbitmq)");
    }

    @Test
    void settingsOfATransportWhoseModuleIsAbsentNameTheArtifact() {
        assertThatThrownBy(() -> EventBus.fromConfig(props("eventbus.kafka.bootstrap.servers", "h:9092")))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Configuration key 'eventbus.kafka.bootstrap.servers' is a setting of the kafka "
                        + "transport, which is not on the classpath: add the Maven artifact "
                        + "dev.eventbus:eventbus-kafka (transports on the classpath: [loopback, memory])");
        assertThatThrownBy(() -> EventBus.fromConfig(props("eventbus.jdbc.url", "jdbc:h2:mem:x")))
                .hasMessageContaining("add the Maven artifact dev.eventbus:eventbus-jdbc-outbox");
    }

    @Test
    void anUnknownCoreKeySuggestsTheNearestAndSaysWhereItWasSet() {
        assertThatThrownBy(() -> fromSources(Map.of(), props("eventbus.retry.max-atempts", "3")))
                .isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("Unknown configuration key 'eventbus.retry.max-atempts' (set by a system "
                        + "property) (did you mean 'eventbus.retry.max-attempts'?): the bus's own keys are [")
                .hasMessageEndingWith("] (transport settings go under eventbus.<transport>.*)");
        assertThatThrownBy(() -> EventBus.fromConfig(props("eventbus.memory.lane-capacty", "3")))
                .hasMessageStartingWith("Unknown configuration key 'eventbus.memory.lane-capacty' (did you mean "
                        + "'eventbus.memory.lane-capacity'?)");
    }

    @Test
    void environmentVariablesMapToTheDashedOrDottedKeyTheTransportAccepts() {
        ConfigSources.Loaded loaded = ConfigSources.load(Map.of(
                "EVENTBUS_LOOPBACK_KEY_ORDER", "false",
                "EVENTBUS_LOOPBACK_CLIENT_SOCKET_TIMEOUT", "5",
                "EVENTBUS_RETRY_MAX_ATTEMPTS", "9",
                "EVENTBUS_ROUTE_STREAM_TASKS", "loopback",
                "EVENTBUS_TEST_SOMETHING", "the tests' own"), new Properties(), BusSetup.providers());
        assertThat(loaded.values()).containsEntry("eventbus.loopback.key-order", "false")
                .containsEntry("eventbus.loopback.client.socket.timeout", "5")
                .containsEntry("eventbus.retry.max-attempts", "9")
                .containsEntry("eventbus.route.stream.tasks", "loopback")
                .containsEntry("eventbus.service", "from-file") // src/test/resources/eventbus.properties
                .doesNotContainKey("eventbus.test.something");
        assertThat(loaded.origins()).containsEntry("eventbus.loopback.key-order",
                "environment variable EVENTBUS_LOOPBACK_KEY_ORDER");
        assertThat(warnings()).isEmpty();
    }

    @Test
    void unknownEnvironmentVariablesAreAWarningNotAFailure() {
        try (EventBus bus = fromSources(Map.of("EVENTBUS_HOME", "/opt/x", "EVENTBUS_LOOPBACK_KEYORDER", "false",
                "EVENTBUS_KAFKA_BOOTSTRAP_SERVERS", "h:9092"), new Properties())) {
            assertThat(bus.serviceName()).isEqualTo("from-file");
        }
        assertThat(warnings()).containsExactly(
                "environment variable EVENTBUS_HOME is not a setting of the bus or of a transport on the classpath; "
                        + "ignored",
                "environment variable EVENTBUS_KAFKA_BOOTSTRAP_SERVERS is not a setting of the bus or of a transport "
                        + "on the classpath; ignored (the kafka transport needs the Maven artifact "
                        + "dev.eventbus:eventbus-kafka)",
                "environment variable EVENTBUS_LOOPBACK_KEYORDER is not a setting of the bus or of a transport on "
                        + "the classpath; ignored (did you mean EVENTBUS_LOOPBACK_KEY_ORDER?)");
    }

    @Test
    void aBadValueFromAnEnvironmentVariableNamesTheVariable() {
        assertThatThrownBy(() -> fromSources(Map.of("EVENTBUS_RETRY_MAX_ATTEMPTS", "many"), new Properties()))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid configuration 'eventbus.retry.max-attempts' = 'many': expected an integer from "
                        + "1 to 1000 (set by environment variable EVENTBUS_RETRY_MAX_ATTEMPTS)");
        assertThatThrownBy(() -> fromSources(Map.of("EVENTBUS_TRANSPORT", "loopback",
                "EVENTBUS_LOOPBACK_KEY_ORDER", "maybe"), new Properties()))
                .isInstanceOf(ConfigException.class)
                .hasMessage("Invalid configuration 'eventbus.loopback.key-order' = 'maybe': expected true or false "
                        + "(set by environment variable EVENTBUS_LOOPBACK_KEY_ORDER)");
    }

    @Test
    void aKeySetAgainInCodeLosesItsOrigin() {
        EventBus.Builder b = EventBus.builder().configFrom(ConfigSources.load(
                Map.of("EVENTBUS_RETRY_MAX_ATTEMPTS", "9"), new Properties(), BusSetup.providers()));
        b.config(Map.of(EventBusConfig.RETRY_MAX_ATTEMPTS, "none"));
        assertThatThrownBy(b::build).hasMessage("Invalid configuration 'eventbus.retry.max-attempts' = 'none': "
                + "expected an integer from 1 to 1000");
    }

    @Test
    void nearestIsATypoNotAnyKey() {
        assertThat(dev.eventbus.internal.ConfigKeys.nearest("kafak", List.of("kafka", "rabbitmq", "jdbc")))
                .isEqualTo("kafka");
        assertThat(dev.eventbus.internal.ConfigKeys.nearest("home", List.of("kafka", "rabbitmq", "jdbc"))).isNull();
    }
}
