package dev.eventbus.rabbitmq;

import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.testkit.Recorder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Connection loss against the real server. Only this test's own connections are cut (by name with
 * {@code rabbitmqctl close_connection}, or through a {@link TcpProxy}); the shared server is never stopped.
 */
class RabbitMqResilienceTest {

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

    @Test
    void connectionsForciblyClosedMidStreamRecoverAndNoConfirmedMessageIsLost() throws Exception {
        String service = "eventbus-kill-" + UUID.randomUUID().toString().substring(0, 8);
        RabbitMqTransport t = support.track(RabbitMqTransport.create(support.config().serviceName(service)
                .publishTimeout(Duration.ofSeconds(60)).build()));
        String s = "kill-" + UUID.randomUUID().toString().substring(0, 8);
        Recorder rec = new Recorder();
        t.subscribe(new SubscriptionRequest("g", s, Set.of("t.x"), 2, false), rec);
        // A per-key ordered group too: its shard locks die with the connection and must be claimed again.
        Recorder ordered = new Recorder();
        t.subscribe(new SubscriptionRequest("o", s, Set.of("t.x"), 2, true), ordered);

        List<CompletableFuture<Void>> futures = new ArrayList<>();
        Thread killer = new Thread(() -> closeConnectionsOf(service));
        killer.start();
        long stopAt = Long.MAX_VALUE;
        int i = 0;
        // Publish steadily from before the kill until well after it.
        while (System.nanoTime() < stopAt) {
            futures.add(t.send(RabbitMqTransportTest.message(s, "t.x", "k" + (i % 10), "m" + i)));
            i++;
            if (i % 10 == 0) {
                Thread.sleep(10);
            }
            if (stopAt == Long.MAX_VALUE && !killer.isAlive()) {
                stopAt = System.nanoTime() + Duration.ofSeconds(2).toNanos();
            }
        }
        int n = futures.size();
        killer.join(30_000);
        Set<String> confirmed = new HashSet<>();
        int failed = 0;
        for (int j = 0; j < n; j++) {
            try {
                futures.get(j).get(40, TimeUnit.SECONDS);
                confirmed.add("m" + j);
            } catch (Exception e) {
                failed++;
            }
        }
        assertThat(confirmed.size()).as("most publishes were confirmed (%d failed)", failed).isGreaterThan(n / 2);
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!new HashSet<>(rec.bodies()).containsAll(confirmed) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        Set<String> received = new HashSet<>(rec.bodies());
        Set<String> missing = new HashSet<>(confirmed);
        missing.removeAll(received);
        assertThat(missing).as("confirmed but never delivered").isEmpty();
        while (!new HashSet<>(ordered.bodies()).containsAll(confirmed) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        Set<String> missingOrdered = new HashSet<>(confirmed);
        missingOrdered.removeAll(new HashSet<>(ordered.bodies()));
        assertThat(missingOrdered).as("confirmed but never delivered to the per-key ordered group").isEmpty();
        // And the transport works normally afterwards.
        t.send(RabbitMqTransportTest.message(s, "t.x", "k", "after")).get(20, TimeUnit.SECONDS);
        long until = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (!rec.bodies().contains("after") && System.nanoTime() < until) {
            Thread.sleep(20);
        }
        assertThat(rec.bodies()).contains("after");
    }

    @Test
    void confirmedMessagesSurviveAnOutageAndAPublishDuringItWaitsForRecovery() throws Exception {
        // The outage is a proxy in front of the broker dropping this transport's connections and refusing new ones:
        // the shared server is never stopped.
        RabbitMqConfig base = RabbitMqConfig.builder().uri(RabbitMqTestSupport.URI).build();
        try (TcpProxy proxy = new TcpProxy(base.host(), base.port())) {
            RabbitMqTransport t = support.track(RabbitMqTransport.create(support.config().host("127.0.0.1")
                    .port(proxy.port()).username(base.username()).password(base.password())
                    .virtualHost(base.virtualHost()).publishTimeout(Duration.ofSeconds(60)).build()));
            String s = "restart-" + UUID.randomUUID().toString().substring(0, 8);
            SubscriptionRequest req = new SubscriptionRequest("g", s, Set.of("t.x"), 1, false);
            t.subscribe(req, new Recorder()).close(Duration.ofSeconds(2)); // the durable queue exists, nobody consumes
            List<CompletableFuture<Void>> before = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                before.add(t.send(RabbitMqTransportTest.message(s, "t.x", null, "before-" + i)));
            }
            for (CompletableFuture<Void> f : before) {
                f.get(20, TimeUnit.SECONDS);
            }
            proxy.drop();
            Thread.sleep(300);
            long call = System.nanoTime();
            CompletableFuture<Void> during = t.send(RabbitMqTransportTest.message(s, "t.x", null, "during"));
            assertThat((System.nanoTime() - call) / 1_000_000).as("ms the publish held its caller").isLessThan(500);
            Thread.sleep(1000);
            assertThat(during).as("waits for the broker instead of failing at once").isNotDone();
            proxy.restore();
            during.get(60, TimeUnit.SECONDS);

            Recorder rec = new Recorder();
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (true) {
                try {
                    t.subscribe(req, rec);
                    break;
                } catch (RuntimeException e) {
                    if (System.nanoTime() > deadline) {
                        throw e;
                    }
                    Thread.sleep(500); // consumer connection still recovering
                }
            }
            rec.awaitCount(201, Duration.ofSeconds(30));
            Set<String> bodies = new HashSet<>(rec.bodies());
            for (int i = 0; i < 200; i++) {
                assertThat(bodies).contains("before-" + i);
            }
            assertThat(bodies).contains("during");
        }
    }

    /** Closes only this test's connections (found by their client-provided name). */
    private static void closeConnectionsOf(String service) {
        try {
            String list = rabbitmqctl("list_connections", "-q", "pid", "client_properties");
            for (String line : list.split("\n")) {
                if (line.contains(service)) {
                    String pid = line.trim().split("\\s+")[0];
                    rabbitmqctl("close_connection", pid, "eventbus resilience test");
                }
            }
        } catch (Exception e) {
            throw new AssertionError("rabbitmqctl failed: " + e, e);
        }
    }

    static String rabbitmqctl(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add("rabbitmqctl");
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("rabbitmqctl " + String.join(" ", args) + " failed: " + out);
        }
        return out;
    }

}
