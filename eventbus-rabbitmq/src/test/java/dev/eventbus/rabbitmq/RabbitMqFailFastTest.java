package dev.eventbus.rabbitmq;

import dev.eventbus.EventBus;
import dev.eventbus.EventBusException;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.testkit.Recorder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * An unreachable or vanished broker is reported in bounded time with one clear error, and never holds a publishing
 * thread for the length of an outage. Outages are made with a {@link TcpProxy} in front of the test broker, never by
 * stopping the shared server.
 */
class RabbitMqFailFastTest {

    private static RabbitMqTestSupport support;

    @BeforeAll
    static void broker() {
        RabbitMqTestSupport.requireBroker();
        support = new RabbitMqTestSupport();
    }

    @AfterAll
    static void cleanUp() {
        support.cleanUp();
    }

    private static long millisSince(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }

    private static List<String> liveTransportThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                .filter(n -> n.startsWith("eventbus-rabbitmq-")).toList();
    }

    @Test
    void anUnreachableBrokerFailsTheBuildAtOnceWithOneErrorNamingTheUriKeyButNotThePassword() {
        assertThat(RabbitMqConfig.builder().build().connectionTimeout()).isLessThanOrEqualTo(Duration.ofSeconds(10));
        List<String> before = liveTransportThreads();
        Properties p = new Properties();
        p.setProperty("eventbus.service", "failfast");
        p.setProperty("eventbus.transport", "rabbitmq");
        p.setProperty(RabbitMqConfig.URI, "amqp://alice:s3cret@127.0.0.1:1/");
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        long start = System.nanoTime();
        Throwable failure;
        try {
            System.setErr(new PrintStream(captured, true, StandardCharsets.UTF_8));
            failure = org.assertj.core.api.Assertions.catchThrowable(() -> EventBus.fromConfig(p).close());
        } finally {
            System.setErr(err);
        }
        long took = millisSince(start);
        assertThat(failure).as("building a bus against a closed port").isNotNull();
        Throwable cause = failure;
        while (!(cause instanceof EventBusException e && e.getMessage().startsWith("Cannot connect")) && cause.getCause() != null) {
            cause = cause.getCause();
        }
        assertThat(cause).isInstanceOf(EventBusException.class)
                .hasMessageContaining(RabbitMqConfig.URI).hasMessageContaining("127.0.0.1:1")
                .hasMessageContaining("rabbitmq-server -detached");
        assertThat(((EventBusException) cause).isRetriable()).isTrue();
        for (Throwable t = failure; t != null; t = t.getCause()) {
            assertThat(String.valueOf(t.getMessage())).doesNotContain("s3cret");
        }
        assertThat(took).as("ms until the failure").isLessThan(10_000);
        String log = captured.toString(StandardCharsets.UTF_8);
        assertThat(log.lines().filter(l -> l.contains("com.rabbitmq") || l.contains("rabbitmq")).count())
                .as("client log lines while failing:%n%s", log).isLessThanOrEqualTo(1);
        assertThat(log).doesNotContain("s3cret");
        assertThat(liveTransportThreads()).as("threads left behind").hasSameSizeAs(before);
    }

    @Test
    void aPortThatAcceptsButNeverSpeaksAmqpFailsWithinTheConnectionTimeoutNamingIt() throws Exception {
        try (ServerSocket silent = new ServerSocket(0)) {
            List<Socket> held = new ArrayList<>();
            Thread acceptor = new Thread(() -> {
                try {
                    while (true) {
                        held.add(silent.accept());
                    }
                } catch (Exception e) {
                    // closed
                }
            });
            acceptor.setDaemon(true);
            acceptor.start();
            RabbitMqConfig c = RabbitMqConfig.builder().uri("amqp://guest:guest@127.0.0.1:" + silent.getLocalPort() + "/")
                    .connectionTimeout(Duration.ofSeconds(1)).build();
            long start = System.nanoTime();
            assertThatThrownBy(() -> RabbitMqTransport.create(c))
                    .isInstanceOf(EventBusException.class)
                    .hasMessageContaining(RabbitMqConfig.URI)
                    .hasMessageContaining("no answer within " + RabbitMqConfig.CONNECTION_TIMEOUT + "=1000ms");
            assertThat(millisSince(start)).as("ms until the failure").isBetween(900L, 4_000L);
            for (Socket s : held) {
                s.close();
            }
        }
    }

    private RabbitMqTransport behind(TcpProxy proxy, RabbitMqConfig.Builder b) {
        RabbitMqConfig base = RabbitMqConfig.builder().uri(RabbitMqTestSupport.URI).build();
        return support.track(RabbitMqTransport.create(b.host("127.0.0.1").port(proxy.port())
                .username(base.username()).password(base.password()).virtualHost(base.virtualHost()).build()));
    }

    private static TcpProxy proxy() throws Exception {
        RabbitMqConfig base = RabbitMqConfig.builder().uri(RabbitMqTestSupport.URI).build();
        return new TcpProxy(base.host(), base.port());
    }

    @Test
    void duringAnOutagePublishesReturnWithinTheMaxBlockAndTheirFuturesFailAtThePublishTimeout() throws Exception {
        try (TcpProxy proxy = proxy()) {
            RabbitMqTransport t = behind(proxy, support.config().serviceName("eventbus-outage")
                    .confirmWindow(4).publishTimeout(Duration.ofSeconds(3)).publishMaxBlock(Duration.ofMillis(500))
                    .recoveryInterval(Duration.ofMillis(300)));
            String s = "outage-" + UUID.randomUUID().toString().substring(0, 8);
            t.subscribe(new SubscriptionRequest("g", s, Set.of("t.x"), 1, false), new Recorder()).close(Duration.ofSeconds(2));
            t.send(RabbitMqTransportTest.message(s, "t.x", "k", "before")).get(10, TimeUnit.SECONDS);

            proxy.drop();
            Thread.sleep(300); // the client notices the closed socket
            List<CompletableFuture<Void>> during = new ArrayList<>();
            long longest = 0;
            long start = System.nanoTime();
            for (int i = 0; i < 8; i++) {
                long call = System.nanoTime();
                during.add(t.send(RabbitMqTransportTest.message(s, "t.x", "k", "during-" + i)));
                longest = Math.max(longest, millisSince(call));
            }
            assertThat(longest).as("longest ms one publish held its caller").isLessThan(1_500);
            // The first four wait for recovery in the window; the next four found it full for the max block.
            for (int i = 4; i < 8; i++) {
                assertThatThrownBy(during.get(i)::join).cause().isInstanceOf(EventBusException.class)
                        .hasMessageContaining(RabbitMqConfig.PUBLISH_MAX_BLOCK + "=500ms")
                        .hasMessageContaining("connection lost");
            }
            for (CompletableFuture<Void> waited : during.subList(0, 4)) {
                assertThatThrownBy(() -> waited.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                        .cause().isInstanceOf(EventBusException.class)
                        .hasMessageContaining(RabbitMqConfig.PUBLISH_TIMEOUT + "=3000ms");
            }
            assertThat(millisSince(start)).as("ms until every future failed").isLessThan(6_000);
            assertThat(during).allMatch(f -> f.isCompletedExceptionally());
            assertThat(((EventBusException) during.get(0).handle((v, e) -> e.getCause() != null ? e.getCause() : e).join())
                    .isRetriable()).isTrue();

            proxy.restore();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (true) {
                try {
                    t.send(RabbitMqTransportTest.message(s, "t.x", "k", "after")).get(10, TimeUnit.SECONDS);
                    break;
                } catch (ExecutionException e) {
                    assertThat(System.nanoTime()).as("publishing works again after the outage").isLessThan(deadline);
                    Thread.sleep(200);
                }
            }
        }
    }

    @Test
    void aBrokerThatStopsAnsweringFailsFirstUseWithinTheMaxBlockAndUnconfirmedPublishesAtThePublishTimeout() throws Exception {
        try (TcpProxy proxy = proxy()) {
            RabbitMqTransport t = behind(proxy, support.config().serviceName("eventbus-frozen")
                    .confirmWindow(4).publishTimeout(Duration.ofSeconds(2)).publishMaxBlock(Duration.ofMillis(700)));
            String s = "frozen-" + UUID.randomUUID().toString().substring(0, 8);
            t.subscribe(new SubscriptionRequest("g", s, Set.of("t.x"), 1, false), new Recorder()).close(Duration.ofSeconds(2));
            t.send(RabbitMqTransportTest.message(s, "t.x", "k", "before")).get(10, TimeUnit.SECONDS);

            proxy.freeze();
            long call = System.nanoTime();
            CompletableFuture<Void> unconfirmed = t.send(RabbitMqTransportTest.message(s, "t.x", "k", "lost-confirm"));
            assertThat(millisSince(call)).isLessThan(500);
            // A stream never used before needs its exchange declared: that broker call gives up after the max block.
            call = System.nanoTime();
            CompletableFuture<Void> firstUse = t.send(RabbitMqTransportTest.message(s + "-new", "t.x", "k", "x"));
            assertThat(millisSince(call)).as("ms the first use held its caller").isBetween(600L, 2_000L);
            assertThatThrownBy(firstUse::join).cause().isInstanceOf(EventBusException.class)
                    .hasMessageContaining("did not answer in time").hasMessageContaining(RabbitMqConfig.PUBLISH_MAX_BLOCK);
            assertThatThrownBy(() -> unconfirmed.get(5, TimeUnit.SECONDS)).cause().isInstanceOf(EventBusException.class)
                    .hasMessageContaining("did not confirm the message within " + RabbitMqConfig.PUBLISH_TIMEOUT + "=2000ms");
            proxy.restore();
        }
    }
}
