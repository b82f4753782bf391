package dev.eventbus;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

import java.io.File;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URI;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The CloudEvents attributes the bus writes ({@code source}, extension names) and the settings that shape them
 * ({@link EventBusConfig#SOURCE}, {@link EventBusConfig#VALIDATION}), checked at build time.
 */
class WireAttributesTest {

    @EventType(name = "wire.thing", stream = "wire")
    record Thing(String id) {
    }

    private static Envelope<?> publishOne(EventBus bus) {
        List<Envelope<?>> seen = new CopyOnWriteArrayList<>();
        bus.subscribeEnvelopes(Thing.class, "g", seen::add);
        bus.publish(new Thing("t-1")).join();
        assertThat(seen).hasSize(1);
        return seen.get(0);
    }

    @Test
    void theDefaultSourceIsAValidAbsoluteUriEvenForAServiceNameWithASpace() {
        try (EventBus bus = EventBus.builder().service("order service").build()) {
            String source = publishOne(bus).source();
            assertThat(source).isEqualTo("urn:eventbus:order%20service");
            assertThat(URI.create(source).isAbsolute()).isTrue();
        }
        try (EventBus bus = EventBus.builder().service("ünï/côdé:x").build()) {
            String source = publishOne(bus).source();
            assertThat(URI.create(source).isAbsolute()).isTrue();
            assertThat(source).isEqualTo("urn:eventbus:%C3%BCn%C3%AF%2Fc%C3%B4d%C3%A9%3Ax");
        }
    }

    @Test
    void aConfiguredSourceIsWrittenAsIs() {
        try (EventBus bus = EventBus.builder().service("order service")
                .config(Map.of(EventBusConfig.SOURCE, "https://example.com/orders")).build()) {
            assertThat(publishOne(bus).source()).isEqualTo("https://example.com/orders");
        }
        try (EventBus bus = EventBus.builder().config(Map.of(EventBusConfig.SOURCE, "/orders")).build()) {
            assertThat(publishOne(bus).source()).as("a relative URI-reference is allowed").isEqualTo("/orders");
        }
    }

    @Test
    void aSourceThatIsNotAUriReferenceFailsTheBuildNamingTheKey() {
        for (String bad : new String[] {"order service", "urn:x:%zz", "urn:x:{a}", "http://[bad"}) {
            assertThatThrownBy(() -> EventBus.builder().config(Map.of(EventBusConfig.SOURCE, bad)).build())
                    .as(bad).isInstanceOf(ConfigException.class)
                    .hasMessageContaining(EventBusConfig.SOURCE).hasMessageContaining("URI-reference")
                    .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo(EventBusConfig.SOURCE));
        }
    }

    @Test
    void anUnknownValidationModeFailsTheBuild() {
        assertThatThrownBy(() -> EventBus.builder().config(Map.of(EventBusConfig.VALIDATION, "hibernate")).build())
                .isInstanceOf(ConfigException.class).hasMessageContaining(EventBusConfig.VALIDATION)
                .hasMessageContaining("none or bean");
        EventBus.builder().config(Map.of(EventBusConfig.VALIDATION, "bean")).build().close();
    }

    /** Core and its required dependencies, without the optional Bean Validation API and provider. */
    @Test
    void beanValidationWithoutTheApiOnTheClasspathFailsTheBuildSayingWhatToAdd() throws Exception {
        List<URL> urls = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            if (!entry.contains("jakarta.validation") && !entry.contains("hibernate-validator")) {
                urls.add(new File(entry).toURI().toURL());
            }
        }
        try (URLClassLoader without = new URLClassLoader(urls.toArray(new URL[0]),
                ClassLoader.getPlatformClassLoader())) {
            Thread.currentThread().setContextClassLoader(without); // the bus's ServiceLoader looks there too
            Class<?> busClass = without.loadClass(EventBus.class.getName());
            Object builder = busClass.getMethod("builder").invoke(null);
            Method config = builder.getClass().getMethod("config", Map.class);
            config.invoke(builder, Map.of(EventBusConfig.VALIDATION, "bean"));
            Method build = builder.getClass().getMethod("build");
            assertThatThrownBy(() -> {
                try {
                    build.invoke(builder);
                } catch (InvocationTargetException e) {
                    throw e.getCause();
                }
            }).satisfies(e -> assertThat(e.getClass().getName()).isEqualTo(ConfigException.class.getName()))
                    .hasMessageContaining(EventBusConfig.VALIDATION)
                    .hasMessageContaining("jakarta.validation-api").hasMessageContaining("hibernate-validator");
            // without validation the same class path builds a bus: core needs no validation jar
            Object plain = busClass.getMethod("builder").invoke(null);
            Object bus = plain.getClass().getMethod("build").invoke(plain);
            bus.getClass().getMethod("close").invoke(bus);
        } finally {
            Thread.currentThread().setContextClassLoader(WireAttributesTest.class.getClassLoader());
        }
    }

    @Test
    void anExtensionNameLongerThanCloudEventsAllowsIsWarnedOncePerName() {
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        Logger logger = (Logger) LoggerFactory.getLogger(ExtensionNames.class);
        Level before = logger.getLevel();
        logger.setLevel(Level.WARN);
        logged.start();
        logger.addAppender(logged);
        try {
            PublishOptions.builder().header("tenantdisplaynamelonger", "x").build();
            PublishOptions.builder().header("tenantdisplaynamelonger", "y").build();
            PublishOptions.builder().header("tenant", "x").header("x-long-header-name-with-dashes", "y").build();
            assertThat(logged.list).hasSize(1);
            assertThat(logged.list.get(0).getFormattedMessage()).contains("tenantdisplaynamelonger")
                    .contains("more than the 20");
        } finally {
            logger.detachAppender(logged);
            logger.setLevel(before);
        }
        assertThatThrownBy(() -> PublishOptions.builder().header("partitionkey", "k"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("key(");
    }
}
