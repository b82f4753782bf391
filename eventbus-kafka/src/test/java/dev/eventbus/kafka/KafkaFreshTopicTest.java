package dev.eventbus.kafka;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.kafka.testing.TestKafkaBroker;
import dev.eventbus.spi.TransportMessage;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Issue 18: a broker older than 4.5 (KAFKA-15591, also KAFKA-14312/19880) can answer NOT_LEADER_OR_FOLLOWER to the
 * first produce request into a partition it has not finished creating while appending the next request, after
 * which the idempotent producer's resend gets OUT_OF_ORDER_SEQUENCE_NUMBER until its delivery timeout. The
 * transport creates topics on first send, so it must not produce before the partitions take writes. Many fresh
 * topics, filled at once with small requests (many in flight per partition) from several threads on a fresh
 * broker of this test's own: every publish must complete, each topic within a bound far below the publish timeout.
 */
class KafkaFreshTopicTest {

    private static final int TOPICS = 24;
    private static final int THREADS = 4;
    private static final int RECORDS = 600;
    private static final long BOUND_MS = 15_000;

    @Test
    void publishingIntoManyFreshlyCreatedTopicsNeverHangs() throws Exception {
        try (TestKafkaBroker.Private broker = TestKafkaBroker.startPrivate();
             KafkaTransport t = KafkaTransport.create(KafkaConfig.builder().serviceName("fresh")
                     .bootstrapServers(broker.bootstrapServers())
                     .set(KafkaConfig.PARTITIONS, "6")
                     // The hang lasts until the delivery timeout: make it far longer than the bound asserted.
                     .set(KafkaConfig.PUBLISH_TIMEOUT, "90s")
                     // Many small produce requests in flight per partition right after creation.
                     .set("producer.linger.ms", "0")
                     .set("producer.batch.size", "512")
                     .build())) {
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            ConcurrentLinkedQueue<String> slow = new ConcurrentLinkedQueue<>();
            List<Long> millis = new java.util.concurrent.CopyOnWriteArrayList<>();
            try {
                List<Future<?>> jobs = new ArrayList<>();
                for (int n = 0; n < TOPICS; n++) {
                    String topic = KafkaTestSupport.unique("fresh-" + n);
                    jobs.add(pool.submit(() -> {
                        long t0 = System.nanoTime();
                        List<CompletableFuture<Void>> sent = new ArrayList<>(RECORDS);
                        for (int i = 0; i < RECORDS; i++) {
                            sent.add(t.send(message(topic, i)));
                        }
                        try {
                            CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new))
                                    .get(BOUND_MS, TimeUnit.MILLISECONDS);
                        } catch (Exception e) {
                            long done = sent.stream().filter(f -> f.isDone() && !f.isCompletedExceptionally()).count();
                            slow.add(topic + ": " + done + "/" + RECORDS + " acknowledged within " + BOUND_MS
                                    + " ms (" + e + ")");
                            return null;
                        }
                        millis.add(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
                        return null;
                    }));
                }
                for (Future<?> j : jobs) {
                    j.get(120, TimeUnit.SECONDS);
                }
            } finally {
                pool.shutdownNow();
            }
            System.out.println("fresh topics: " + TOPICS + " x " + RECORDS + " records, ms per topic " + millis);
            assertThat(slow).as("topics whose first records were not all acknowledged within %d ms", BOUND_MS)
                    .isEmpty();
            assertThat(millis).hasSize(TOPICS);
        }
    }

    private static TransportMessage message(String topic, int i) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, topic + "-" + i);
        h.put(MessageHeaders.TYPE, "fresh.test");
        h.put(MessageHeaders.SOURCE, "/fresh-test");
        return TransportMessage.of(topic, "k" + (i % 50), h, ("{\"n\":" + i + "}").getBytes(StandardCharsets.UTF_8));
    }
}
