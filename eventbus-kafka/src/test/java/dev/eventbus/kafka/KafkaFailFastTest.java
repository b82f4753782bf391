package dev.eventbus.kafka;

import dev.eventbus.EventBusException;
import dev.eventbus.kafka.testing.TestKafkaBroker;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;
import org.junit.jupiter.api.Test;

import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Issue 11, Kafka: an unreachable Kafka is reported once, within the connect timeout, without a flood of client
 * log lines; a transport that never connected closes at once; a publish during an outage fails within the publish
 * timeout instead of blocking.
 */
class KafkaFailFastTest {

    /** A port nothing listens on (bound, then released). */
    private static int closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static TransportMessage message(String stream, int i) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, "id-" + i);
        h.put(MessageHeaders.TYPE, "outage.test");
        h.put(MessageHeaders.SOURCE, "/outage-test");
        return TransportMessage.of(stream, "k", h, ("m" + i).getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void aBusOnAnUnreachableKafkaFailsOnceWithinTheConnectTimeoutAndQuietly() throws Exception {
        int port = closedPort();
        Path out = Files.createTempFile("unreachable", ".out");
        Path err = Files.createTempFile("unreachable", ".err");
        try {
            List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx256m", "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
                    "-cp", System.getProperty("java.class.path"), UnreachableKafkaApp.class.getName(),
                    "localhost:" + port, "3s");
            Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the JVM exits by itself: nothing left running").isTrue();
            List<String> printed = Files.readAllLines(out);
            List<String> logged = Files.readAllLines(err);
            assertThat(printed).as("stdout; stderr:\n%s", String.join("\n", logged)).hasSize(1);
            String[] f = printed.get(0).split(" ", 3);
            assertThat(f[0]).isEqualTo("FAILED");
            assertThat(f[2]).isEqualTo(EventBusException.class.getName() + ": Could not reach Kafka at 'localhost:"
                    + port + "' (eventbus.kafka.bootstrap.servers) within 3000 ms (eventbus.kafka.connect-timeout): "
                    + "no broker answered. Check that the brokers run and that eventbus.kafka.bootstrap.servers "
                    + "names them.");
            long ms = Long.parseLong(f[1]);
            // 3 s of waiting, plus loading the classes and building the bus and the clients: 1-2 s on a quiet
            // machine, 7 s seen with a load average of 38 on 2 cores.
            assertThat(ms).as("time to the failure, ms").isBetween(2900L, 3000L + 12_000L);
            long rebootstraps = logged.stream().filter(l -> l.contains("Rebootstrapping")).count();
            long warnings = logged.stream().filter(l -> l.contains(" WARN ") || l.contains(" ERROR ")).count();
            System.out.printf("[KafkaFailFastTest] unreachable Kafka reported after %d ms; %d log lines at INFO "
                    + "(%d WARN/ERROR, %d 'Rebootstrapping'; before: 74,508 lines in 36 s)%n", ms, logged.size(),
                    warnings, rebootstraps);
            assertThat(rebootstraps).as("rebootstrap lines").isZero();
            // Each client prints its configuration at INFO (~100 lines for the admin client); one connection
            // warning per second of waiting.
            assertThat(logged.size()).as("log lines at INFO").isLessThan(300);
            assertThat(warnings).as("WARN/ERROR lines").isLessThan(20);
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    @Test
    void aTransportThatNeverConnectedClosesInUnderASecond() throws Exception {
        KafkaTransport t = KafkaTransport.create(KafkaConfig.builder().serviceName("never-connected")
                .bootstrapServers("localhost:" + closedPort()).set(KafkaConfig.CONNECT_TIMEOUT, "0").build());
        long t0 = System.nanoTime();
        t.close(Duration.ofSeconds(10));
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.out.printf("[KafkaFailFastTest] a transport that never connected closed in %d ms%n", ms);
        assertThat(ms).as("close, ms").isLessThan(1000);
    }

    @Test
    void aPublishDuringAnOutageFailsWithinThePublishTimeout() throws Exception {
        TestKafkaBroker.Private broker = TestKafkaBroker.startPrivate();
        KafkaTransport t = null;
        try {
            t = KafkaTransport.create(KafkaConfig.builder().serviceName("outage")
                    .bootstrapServers(broker.bootstrapServers()).set(KafkaConfig.PUBLISH_TIMEOUT, "2s").build());
            t.send(message("outage", 0)).get(30, TimeUnit.SECONDS);
            broker.close();

            // A known topic: the call blocks at most the publish timeout (max.block.ms: usually it returns at once,
            // unless the producer already dropped the topic's metadata) and the future fails after it.
            long t0 = System.nanoTime();
            CompletableFuture<Void> f = t.send(message("outage", 1));
            long callMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertThatThrownBy(() -> f.get(30, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .cause().isInstanceOf(EventBusException.class)
                    .hasMessageStartingWith("Kafka did not acknowledge the record for topic 'outage' within 2000 ms "
                            + "(eventbus.kafka.publish-timeout); is Kafka at '" + broker.bootstrapServers()
                            + "' (eventbus.kafka.bootstrap.servers) reachable?")
                    .satisfies(e -> assertThat(((EventBusException) e).isRetriable()).isTrue());
            long failMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);

            // A new topic: the look-up is bounded by the publish timeout too.
            long t1 = System.nanoTime();
            CompletableFuture<Void> g = t.send(message("outage-new", 2));
            assertThatThrownBy(() -> g.get(30, TimeUnit.SECONDS)).cause().isInstanceOf(EventBusException.class)
                    .hasMessageContaining("eventbus.kafka.publish-timeout");
            long newTopicMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t1);

            long t2 = System.nanoTime();
            t.close(Duration.ofSeconds(10));
            long closeMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t2);
            t = null;
            System.out.printf("[KafkaFailFastTest] broker down, publish-timeout 2 s: send() returned in %d ms, its "
                    + "future failed after %d ms; a new topic failed after %d ms; close took %d ms%n", callMs, failMs,
                    newTopicMs, closeMs);
            assertThat(callMs).as("send() call, ms").isLessThanOrEqualTo(2000L + 1500L);
            assertThat(failMs).as("future failed after, ms").isBetween(1500L, 2000L + 5000L);
            assertThat(newTopicMs).as("new topic failed after, ms").isBetween(1500L, 2000L + 5000L);
            assertThat(closeMs).as("close, ms").isLessThan(5000);
        } finally {
            if (t != null) {
                t.close(Duration.ZERO);
            }
            broker.close();
        }
    }
}
