package dev.eventbus.jdbc;

import dev.eventbus.ConfigException;
import dev.eventbus.EventBus;
import dev.eventbus.EventBusException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

/**
 * What a user sees when the database cannot be used: a missing driver fails at build naming
 * {@code eventbus.jdbc.url} and the artifact to add; an unreachable database fails within the connect timeout,
 * with one error naming the keys and never the password, and leaves no thread behind.
 */
class ConnectionFailureTest {

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    @Test
    void aUrlWhoseDriverIsMissingFailsAtBuildNamingTheKeyAndTheArtifact() {
        // No MySQL driver on this module's test classpath (MariaDB's refuses jdbc:mysql: by default).
        String url = "jdbc:mysql://app:s3cret@127.0.0.1:3306/shop?password=s3cret";
        Throwable t = catchThrowable(() -> JdbcTransport.fromConfig(Map.of(JdbcConfig.URL, url)));
        assertThat(t).isInstanceOf(ConfigException.class);
        assertThat(((ConfigException) t).key()).isEqualTo(JdbcConfig.URL);
        assertThat(t.getMessage()).isEqualTo("No JDBC driver for 'eventbus.jdbc.url' = jdbc:mysql://127.0.0.1:3306/shop"
                + " is on the classpath: add the dependency com.mysql:mysql-connector-j, or correct eventbus.jdbc.url");

        Properties p = new Properties();
        p.setProperty("eventbus.transport", "jdbc");
        p.setProperty(JdbcConfig.URL, "jdbc:mysql://127.0.0.1:3306/shop");
        assertThatThrownBy(() -> EventBus.fromConfig(p)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("add the dependency com.mysql:mysql-connector-j");
    }

    @Test
    void theDefaultUrlWithoutH2FailsAtBuildNamingTheKeyAndH2() throws Exception {
        // The module's classes, core and their dependencies, but not H2: what a user's application looks like.
        List<URL> urls = new ArrayList<>();
        String cp = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        for (String entry : cp.split(File.pathSeparator)) {
            if (!entry.isBlank() && !new File(entry).getName().startsWith("h2-")) {
                urls.add(new File(entry).toURI().toURL());
            }
        }
        try (URLClassLoader isolated = new URLClassLoader(urls.toArray(new URL[0]),
                ClassLoader.getPlatformClassLoader())) {
            assertThatThrownBy(() -> Class.forName("org.h2.Driver", false, isolated))
                    .isInstanceOf(ClassNotFoundException.class);
            Class<?> transport = Class.forName(JdbcTransport.class.getName(), true, isolated);
            Throwable t = catchThrowable(() -> transport.getMethod("fromConfig", Map.class).invoke(null, Map.of()));
            assertThat(t).isInstanceOf(InvocationTargetException.class);
            Throwable cause = t.getCause();
            assertThat(cause.getClass().getName()).isEqualTo(ConfigException.class.getName());
            assertThat(cause.getMessage()).isEqualTo("No JDBC driver for 'eventbus.jdbc.url' ="
                    + " jdbc:h2:file:./eventbus-data/eventbus (the default: an H2 database file in the working"
                    + " directory) is on the classpath: add the dependency com.h2database:h2, or set"
                    + " eventbus.jdbc.url to the database you use (and add its driver)");
        }
        assertThat(new File("eventbus-data/eventbus.mv.db")).as("nothing created").doesNotExist();
    }

    @Test
    void aClosedPortFailsAtOnceNamingTheKeysButNotThePassword() throws Exception {
        int port = freePort();
        int threadsBefore = eventbusThreads();
        long start = System.nanoTime();
        Throwable t = catchThrowable(() -> JdbcTransport.fromConfig(Map.of(
                JdbcConfig.URL, "jdbc:postgresql://127.0.0.1:" + port + "/test?password=s3cret",
                JdbcConfig.PASSWORD, "s3cret")));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertThat(t).isInstanceOf(EventBusException.class);
        assertThat(((EventBusException) t).isRetriable()).isTrue();
        assertThat(t.getMessage()).startsWith("cannot connect to the database to detect its SQL dialect: ")
                .contains("refused")
                .endsWith("[eventbus.jdbc.url = jdbc:postgresql://127.0.0.1:" + port + "/test,"
                        + " eventbus.jdbc.connect-timeout = 10s]")
                .doesNotContain("s3cret");
        assertThat(millis).as("a refused connection is reported at once").isLessThan(3_000);
        assertThat(eventbusThreads()).as("no thread left behind").isLessThanOrEqualTo(threadsBefore);
    }

    @Test
    void aBusConfiguredForAnUnreachableDatabaseFailsToBuildNamingTheKey() throws Exception {
        int port = freePort();
        Properties p = new Properties();
        p.setProperty("eventbus.transport", "jdbc");
        p.setProperty(JdbcConfig.URL, "jdbc:mariadb://127.0.0.1:" + port + "/test");
        p.setProperty(JdbcConfig.PASSWORD, "s3cret");
        long start = System.nanoTime();
        Throwable t = catchThrowable(() -> EventBus.fromConfig(p).close());
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertThat(t).isInstanceOf(EventBusException.class);
        assertThat(t.getMessage()).contains("[eventbus.jdbc.url = jdbc:mariadb://127.0.0.1:" + port + "/test,"
                + " eventbus.jdbc.connect-timeout = 10s]").doesNotContain("s3cret");
        assertThat(millis).as("no bus, nothing to close: reported at once").isLessThan(3_000);
    }

    @Test
    void aServerThatNeverAnswersFailsWithinTheConnectTimeoutOnPostgres() throws Exception {
        assertSilentServerFailsWithin("jdbc:postgresql://127.0.0.1:%d/test", "1s", 900, 4_000);
    }

    @Test
    void aServerThatNeverAnswersFailsWithinTheConnectTimeoutOnMariaDb() throws Exception {
        assertSilentServerFailsWithin("jdbc:mariadb://127.0.0.1:%d/test", "1500ms", 1_400, 4_500);
    }

    /** On MariaDB the whole timeout is spent waiting for the handshake (pgjdbc gives up on SSL after 5 s). */
    @Test
    void theDefaultConnectTimeoutIsTenSeconds() throws Exception {
        assertSilentServerFailsWithin("jdbc:mariadb://127.0.0.1:%d/test", null, 9_900, 14_000);
    }

    private void assertSilentServerFailsWithin(String urlPattern, String timeout, long atLeastMillis,
                                               long atMostMillis) throws Exception {
        ServerSocket silent = new ServerSocket(0);
        open.add(silent);
        List<Socket> accepted = new ArrayList<>();
        Thread acceptor = new Thread(() -> {
            try {
                while (true) {
                    accepted.add(silent.accept()); // accept, then never say a word
                }
            } catch (IOException closed) {
                // test over
            }
        }, "silent-db");
        acceptor.setDaemon(true);
        acceptor.start();
        open.add(() -> accepted.forEach(s -> {
            try {
                s.close();
            } catch (IOException ignored) {
                // best effort
            }
        }));
        String url = String.format(urlPattern, silent.getLocalPort());
        Map<String, String> config = timeout == null ? Map.of(JdbcConfig.URL, url, JdbcConfig.USER, "app")
                : Map.of(JdbcConfig.URL, url, JdbcConfig.USER, "app", JdbcConfig.CONNECT_TIMEOUT, timeout);
        int threadsBefore = eventbusThreads();
        long start = System.nanoTime();
        Throwable t = catchThrowable(() -> JdbcTransport.fromConfig(config));
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertThat(t).isInstanceOf(EventBusException.class);
        assertThat(((EventBusException) t).isRetriable()).isTrue();
        assertThat(t.getMessage()).startsWith("cannot connect to the database to detect its SQL dialect: ")
                .endsWith("[eventbus.jdbc.url = " + url + ", eventbus.jdbc.connect-timeout = "
                        + (timeout == null ? "10s" : timeout) + "]");
        assertThat(millis).as("reported after the connect timeout, not later").isBetween(atLeastMillis, atMostMillis);
        assertThat(eventbusThreads()).as("no thread left behind").isLessThanOrEqualTo(threadsBefore);
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static int eventbusThreads() {
        int n = 0;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith("eventbus-")) {
                n++;
            }
        }
        return n;
    }
}
