package dev.eventbus.kafka;

import dev.eventbus.DeadLetter;
import dev.eventbus.EventBusException;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.testkit.Recorder;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static dev.eventbus.kafka.PlainKafka.bytes;
import static dev.eventbus.kafka.PlainKafka.headers;
import static dev.eventbus.kafka.PlainKafka.text;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Kafka-specific behaviour against the real broker: partitions, groups, rebalances, the wire, DLT, transactions. */
class KafkaTransportTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private final List<KafkaTransport> opened = new ArrayList<>();

    @AfterEach
    void closeAll() {
        Collections.reverse(opened);
        for (KafkaTransport t : opened) {
            t.close(Duration.ofSeconds(5));
        }
    }

    private KafkaTransport transport(KafkaConfig.Builder config) {
        KafkaTransport t = KafkaTransport.create(config.build());
        opened.add(t);
        return t;
    }

    private KafkaTransport transport() {
        return transport(KafkaTestSupport.config("kafka-test"));
    }

    static TransportMessage message(String stream, String key, String type, String body) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, java.util.UUID.randomUUID().toString());
        h.put(MessageHeaders.SPECVERSION, "1.0");
        h.put(MessageHeaders.SOURCE, "/kafka-test");
        h.put(MessageHeaders.TYPE, type);
        h.put(MessageHeaders.DATACONTENTTYPE, "application/json");
        h.put(MessageHeaders.TIME, Instant.now().toString());
        if (key != null) {
            h.put(MessageHeaders.SUBJECT, key);
        }
        return TransportMessage.of(stream, key, h, bytes(body));
    }

    private static SubscriptionRequest request(String group, String stream, int concurrency, String... types) {
        return new SubscriptionRequest(group, stream, Set.of(types), concurrency, true);
    }

    private static void join(CompletableFuture<?> f) {
        try {
            f.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("send failed: " + e, e);
        }
    }

    @Test
    void keepsPerKeyOrderAcrossThreePartitionsWithConcurrency() {
        KafkaTransport t = transport();
        String s = KafkaTestSupport.unique("order");
        AtomicInteger concurrent = new AtomicInteger();
        AtomicInteger maxConcurrent = new AtomicInteger();
        Set<Integer> partitionsSeen = ConcurrentHashMap.newKeySet();
        Recorder rec = new Recorder(d -> {
            maxConcurrent.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
            partitionsSeen.add(Integer.parseInt(d.origin().replaceAll(".*-(\\d+)@\\d+$", "$1")));
            sleep(1);
            concurrent.decrementAndGet();
            return Outcome.ack();
        });
        KafkaTestSupport.awaitAssigned(t.subscribe(request(s + "-g", s, 4, "t"), rec));
        int keys = 12;
        int perKey = 40;
        List<CompletableFuture<Void>> sent = new ArrayList<>();
        for (int i = 0; i < perKey; i++) {
            for (int k = 0; k < keys; k++) {
                sent.add(t.send(message(s, "key-" + k, "t", k + ":" + i)));
            }
        }
        sent.forEach(KafkaTransportTest::join);
        Map<String, List<Integer>> byKey = new HashMap<>();
        for (Recorder.Received r : rec.awaitCount(keys * perKey, WAIT)) {
            String[] p = r.body().split(":");
            byKey.computeIfAbsent(p[0], x -> new ArrayList<>()).add(Integer.parseInt(p[1]));
        }
        assertThat(partitionsSeen).as("records came from all 3 partitions").containsExactlyInAnyOrder(0, 1, 2);
        assertThat(byKey).hasSize(keys);
        byKey.forEach((k, v) -> assertThat(v).as("order of key %s", k).hasSize(perKey).isSorted());
        assertThat(maxConcurrent.get()).as("handlers ran in parallel").isGreaterThan(1);
    }

    @Test
    void withoutPerKeyOrderOneKeysRecordsAreHandledInParallel() {
        KafkaTransport t = transport();
        String s = KafkaTestSupport.unique("unordered");
        AtomicInteger concurrent = new AtomicInteger();
        AtomicInteger maxConcurrent = new AtomicInteger();
        Recorder rec = new Recorder(d -> {
            maxConcurrent.accumulateAndGet(concurrent.incrementAndGet(), Math::max);
            sleep(20);
            concurrent.decrementAndGet();
            return Outcome.ack();
        });
        // Sent before the group exists, so one poll returns them all (a new group starts at the earliest offset).
        List<CompletableFuture<Void>> sent = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            sent.add(t.send(message(s, "one-key", "t", "m" + i)));
        }
        sent.forEach(KafkaTransportTest::join);
        t.subscribe(new SubscriptionRequest(s + "-g", s, Set.of("t"), 4, false), rec);
        assertThat(rec.awaitCount(40, WAIT)).extracting(Recorder.Received::body).doesNotHaveDuplicates().hasSize(40);
        assertThat(maxConcurrent.get()).as("one key's records ran in parallel").isGreaterThan(1);
    }

    @Test
    void twoConsumersOfOneGroupSplitThePartitionsAndTheSurvivorTakesOverWithoutLoss() {
        String s = KafkaTestSupport.unique("split");
        KafkaTransport first = transport();
        KafkaTransport second = transport();
        Recorder a = new Recorder();
        Recorder b = new Recorder();
        KafkaSubscription sa = first.subscribe(request(s + "-g", s, 2, "t"), a);
        KafkaSubscription sb = second.subscribe(request(s + "-g", s, 2, "t"), b);
        awaitSplit(sa, sb, sa.topic());

        for (int i = 0; i < 90; i++) {
            join(first.send(message(s, "k" + i, "t", "one-" + i)));
        }
        awaitTotal(a, b, 90);
        assertThat(a.count()).as("first consumer's share").isPositive();
        assertThat(b.count()).as("second consumer's share").isPositive();

        sb.close(Duration.ofSeconds(5));
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (mainPartitions(sa, sa.topic()) < 3 && System.nanoTime() < deadline) {
            sleep(20);
        }
        assertThat(mainPartitions(sa, sa.topic())).as("the survivor owns every partition").isEqualTo(3);
        for (int i = 0; i < 90; i++) {
            join(first.send(message(s, "k" + i, "t", "two-" + i)));
        }
        awaitTotal(a, b, 180);
        List<String> all = new ArrayList<>(a.bodies());
        all.addAll(b.bodies());
        assertThat(all).as("every record handled once: the leaver committed what it handled")
                .doesNotHaveDuplicates().hasSize(180);
        assertThat(a.bodies().stream().filter(x -> x.startsWith("two-"))).hasSize(90);
    }

    @Test
    void aRebalanceMidStreamLosesNothingAndDuplicatesAtMostTheRecordsInFlight() throws Exception {
        String s = KafkaTestSupport.unique("rebalance");
        int n = 600;
        int concurrency = 2;
        Map<String, Integer> seen = new ConcurrentHashMap<>();
        Map<String, List<Integer>> firstSeenOrder = new ConcurrentHashMap<>();
        java.util.function.Function<dev.eventbus.spi.Delivery, Outcome> handle = d -> {
            String body = text(d.message().body());
            if (seen.merge(body, 1, Integer::sum) == 1) {
                String[] p = body.split(":");
                firstSeenOrder.computeIfAbsent(p[0], x -> Collections.synchronizedList(new ArrayList<>()))
                        .add(Integer.parseInt(p[1]));
            }
            sleep(2);
            return Outcome.ack();
        };
        KafkaTransport producer = transport();
        KafkaTransport first = transport();
        KafkaSubscription sa = first.subscribe(request(s + "-g", s, concurrency, "t"), new Recorder(handle));
        KafkaTestSupport.awaitAssigned(sa);

        Thread sender = new Thread(() -> {
            for (int i = 0; i < n; i++) {
                join(producer.send(message(s, "key-" + (i % 30), "t", "key-" + (i % 30) + ":" + i)));
                if (i % 50 == 0) {
                    sleep(20);
                }
            }
        });
        sender.start();
        awaitCondition(() -> seen.size() >= 100);
        KafkaTransport second = transport();
        KafkaSubscription sb = second.subscribe(request(s + "-g", s, concurrency, "t"), new Recorder(handle));
        KafkaTestSupport.awaitAssigned(sb);
        awaitCondition(() -> seen.size() >= 350);
        sa.close(Duration.ofSeconds(10)); // the first instance leaves mid-stream
        sender.join(60_000);
        awaitCondition(() -> seen.size() >= n);

        assertThat(seen).as("nothing lost").hasSize(n);
        long duplicates = seen.values().stream().mapToInt(v -> v - 1).sum();
        assertThat(duplicates).as("duplicates at most the records in flight (concurrency %d)", concurrency)
                .isLessThanOrEqualTo(concurrency);
        firstSeenOrder.forEach((k, v) -> assertThat(v).as("per-key order of %s across the hand-over", k).isSorted());
    }

    @Test
    void retriesThroughTheRetryTopicThenWritesTheDeadLetterWithItsHistory() throws Exception {
        KafkaTransport t = transport();
        String s = KafkaTestSupport.unique("dlt");
        Recorder rec = new Recorder(d -> d.attempt() < 3
                ? Outcome.retry(Duration.ofMillis(100), new IllegalStateException("flaky " + d.attempt()),
                Map.of(MessageHeaders.ATTEMPTS, Integer.toString(d.attempt())))
                : Outcome.dead("gave up", new IllegalArgumentException("broken for good"), Map.of()));
        KafkaSubscription sub = t.subscribe(request(s + "-billing", s, 1, "t"), rec);
        KafkaTestSupport.awaitAssigned(sub);
        TransportMessage m = message(s, "order-7", "t", "{\"n\":7}");
        join(t.send(m));
        List<Recorder.Received> got = rec.awaitCount(3, WAIT);
        assertThat(got).extracting(r -> r.delivery().attempt()).containsExactly(1, 2, 3);
        assertThat(got.get(0).delivery().origin()).startsWith(s + "-");
        assertThat(got.get(1).delivery().origin()).startsWith(t.config().retryTopic(s, s + "-billing") + "-");
        assertThat(got.get(1).delivery().message().stream()).isEqualTo(s);
        assertThat(got.get(1).delivery().message().headers().keySet())
                .as("the transport's own retry headers stay hidden").noneMatch(k -> k.startsWith("eventbus-kafka-"));

        ConsumerRecord<byte[], byte[]> dead = PlainKafka.awaitRecords(s + ".DLT", 1).get(0);
        Map<String, String> h = headers(dead);
        assertThat(text(dead.key())).isEqualTo("order-7");
        assertThat(text(dead.value())).isEqualTo("{\"n\":7}");
        assertThat(h).containsEntry("ce_id", m.id())
                .containsEntry(MessageHeaders.DLQ_REASON, "gave up")
                .containsEntry(MessageHeaders.DLQ_EXCEPTION, IllegalArgumentException.class.getName())
                .containsEntry(MessageHeaders.DLQ_MESSAGE, "broken for good")
                .containsEntry(MessageHeaders.DLQ_GROUP, s + "-billing")
                .containsEntry(MessageHeaders.DLQ_ORIGINAL_STREAM, s)
                .containsEntry("eventbus-dlq-original-topic", s)
                .containsEntry("eventbus-dlq-original-offset", "0")
                .containsEntry(MessageHeaders.ATTEMPTS, "2")
                .containsKeys(MessageHeaders.DLQ_STACK, MessageHeaders.FIRST_FAILURE, MessageHeaders.DLQ_TIME,
                        "eventbus-dlq-original-partition");
        assertThat(h.get(MessageHeaders.DLQ_STACK)).contains("IllegalArgumentException").contains("\tat ");
        assertThat(h.get(MessageHeaders.DLQ_ORIGIN)).isEqualTo(s + "-" + dead.partition() + "@0");
        assertThat(h.keySet()).as("no internal bookkeeping leaks into the DLT").noneMatch(k -> k.startsWith("eventbus-kafka-"));
        assertThat(Instant.parse(h.get(MessageHeaders.FIRST_FAILURE)))
                .isBeforeOrEqualTo(Instant.parse(h.get(MessageHeaders.DLQ_TIME)));
    }

    @Test
    void aReplayedDeadLetterGoesOnlyToTheGroupThatGaveUp() {
        KafkaTransport t = transport();
        String s = KafkaTestSupport.unique("replay");
        AtomicInteger failures = new AtomicInteger();
        Recorder picky = new Recorder(d -> failures.getAndIncrement() == 0
                ? Outcome.dead("not yet", null, Map.of()) : Outcome.ack());
        Recorder relaxed = new Recorder();
        KafkaTestSupport.awaitAssigned(t.subscribe(request(s + "-picky", s, 1, "t"), picky));
        KafkaTestSupport.awaitAssigned(t.subscribe(request(s + "-relaxed", s, 1, "t"), relaxed));
        TransportMessage m = message(s, "k", "t", "{}");
        join(t.send(m));
        relaxed.awaitCount(1, WAIT);
        List<DeadLetter> dead = awaitDeadLetters(t, s + "-picky", 1);
        assertThat(t.deadLetters().list(s + "-relaxed", 10)).isEmpty();
        assertThat(dead.get(0).id()).startsWith(s + ".DLT/");
        assertThat(dead.get(0).message().key()).isEqualTo("k");

        assertThat(t.deadLetters().replay(dead.get(0))).isTrue();
        List<Recorder.Received> again = picky.awaitCount(2, WAIT);
        assertThat(again.get(1).delivery().message().id()).isEqualTo(m.id());
        assertThat(relaxed.after(Duration.ofMillis(700))).as("the other group does not see the replay").hasSize(1);
        assertThat(t.deadLetters().list(s + "-picky", 10)).isEmpty();
        assertThat(t.deadLetters().replay(dead.get(0))).isFalse();
    }

    @Test
    void aTransactionalBatchThatAbortsPublishesNothingVisibleToReadCommittedConsumers() throws Exception {
        String s = KafkaTestSupport.unique("tx");
        KafkaTransport t = transport(KafkaTestSupport.config("tx-test")
                .set(KafkaConfig.TRANSACTIONAL_ID, KafkaTestSupport.unique("tx-test")));
        assertThat(t.capabilities()).contains(Capability.TRANSACTIONAL_BATCH);
        List<TransportMessage> doomed = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            doomed.add(message(s, "k" + i, "t", "doomed-" + i));
        }
        // Larger than the producer's max.request.size (1 MB): the broker never gets it, the transaction aborts.
        doomed.add(message(s, "big", "t", "x".repeat(2 * 1024 * 1024)));
        assertThatThrownBy(() -> t.sendBatch(doomed).get(30, TimeUnit.SECONDS))
                .hasCauseInstanceOf(EventBusException.class)
                .hasMessageContaining("aborted");

        List<TransportMessage> good = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            good.add(message(s, "same-key", "t", "good-" + i));
        }
        join(t.sendBatch(good));
        // The commit markers are written just after the commit returns: wait for the batch to become visible.
        PlainKafka.awaitRecords(s, good.size());
        List<String> visible = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : PlainKafka.readAll(s, "read_committed")) {
            visible.add(text(r.value()));
        }
        assertThat(visible).as("only the committed batch, in order")
                .containsExactlyElementsOf(good.stream().map(m -> text(m.body())).toList());
    }

    @Test
    void aMalformedRecordGoesToTheDeadLetterTopicAndTheNextRecordIsHandled() throws Exception {
        KafkaTransport t = transport();
        String s = KafkaTestSupport.unique("malformed");
        Recorder rec = new Recorder();
        KafkaSubscription sub = t.subscribe(request(s + "-g", s, 1, "t"), rec);
        KafkaTestSupport.awaitAssigned(sub);
        RecordHeaders h = new RecordHeaders();
        h.add("content-type", bytes("application/cloudevents+json; charset=UTF-8"));
        PlainKafka.send(new ProducerRecord<>(s, 0, bytes("k"), bytes("{not json at all"), h));
        PlainKafka.send(new ProducerRecord<>(s, 0, bytes("k"), bytes("{\"after\":true}"), new RecordHeaders()
                .add("ce_id", bytes("id-2")).add("ce_type", bytes("t")).add("ce_source", bytes("/x"))
                .add("ce_specversion", bytes("1.0"))));
        List<Recorder.Received> got = rec.awaitCount(1, WAIT);
        assertThat(got.get(0).delivery().message().id()).isEqualTo("id-2");

        List<DeadLetter> dead = awaitDeadLetters(t, s + "-g", 1);
        assertThat(dead.get(0).reason()).contains("malformed record").contains("not JSON");
        assertThat(dead.get(0).message().body()).isEqualTo(bytes("{not json at all"));
        assertThat(dead.get(0).exceptionClass()).contains("MalformedRecordException");
        assertThat(rec.after(Duration.ofMillis(300))).as("the handler never saw the broken record").hasSize(1);
    }

    @Test
    void recordsOfTypesNobodyWantsAreSkippedByHeaderAndCommitted() throws Exception {
        KafkaTransport t = transport();
        String s = KafkaTestSupport.unique("types");
        Recorder rec = new Recorder();
        KafkaSubscription sub = t.subscribe(request(s + "-g", s, 1, "wanted"), rec);
        KafkaTestSupport.awaitAssigned(sub);
        for (int i = 0; i < 10; i++) {
            join(t.send(message(s, "k", i % 2 == 0 ? "wanted" : "unwanted", "m" + i)));
        }
        assertThat(rec.awaitCount(5, WAIT)).extracting(Recorder.Received::body)
                .containsExactly("m0", "m2", "m4", "m6", "m8");
        try (Admin admin = dev.eventbus.kafka.testing.TestKafkaBroker.admin()) {
            long deadline = System.nanoTime() + WAIT.toNanos();
            long committed = 0;
            while (committed < 10 && System.nanoTime() < deadline) {
                sleep(100);
                committed = 0;
                for (OffsetAndMetadata o : admin.listConsumerGroupOffsets(s + "-g").partitionsToOffsetAndMetadata()
                        .get().entrySet().stream().filter(e -> e.getKey().topic().equals(s))
                        .map(Map.Entry::getValue).toList()) {
                    committed += o.offset();
                }
            }
            assertThat(committed).as("offsets committed past the skipped records").isEqualTo(10);
        }
        assertThat(rec.count()).isEqualTo(5);
    }

    @Test
    void aRecordFromOurTransportIsAPlainCloudEventsKafkaRecord() throws Exception {
        KafkaTransport t = transport();
        String s = KafkaTestSupport.unique("wire");
        TransportMessage m = message(s, "order-1", "order.placed", "{\"orderId\":\"order-1\"}")
                .withHeaders(Map.of(MessageHeaders.CORRELATION_ID, "corr-1", MessageHeaders.CAUSATION_ID, "cause-1",
                        MessageHeaders.TRACEPARENT, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                        "tenant", "acme", "x-User-Header", "kept as is"));
        join(t.send(m));
        ConsumerRecord<byte[], byte[]> r = PlainKafka.awaitRecords(s, 1).get(0);
        assertThat(text(r.key())).isEqualTo("order-1");
        assertThat(text(r.value())).isEqualTo("{\"orderId\":\"order-1\"}");
        assertThat(headers(r)).containsEntry("ce_id", m.id())
                .containsEntry("ce_type", "order.placed")
                .containsEntry("ce_source", "/kafka-test")
                .containsEntry("ce_specversion", "1.0")
                .containsEntry("ce_time", m.header(MessageHeaders.TIME))
                .containsEntry("ce_subject", "order-1")
                .containsEntry("content-type", "application/json")
                .containsEntry("ce_correlationid", "corr-1")
                .containsEntry("ce_causationid", "cause-1")
                .containsEntry("ce_traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
                .containsEntry("ce_tenant", "acme")
                .containsEntry("x-User-Header", "kept as is");
    }

    @Test
    void structuredModeWritesOneJsonCloudEventAndReadsItBack() throws Exception {
        KafkaTransport t = transport(KafkaTestSupport.config("structured").set(KafkaConfig.BINDING_MODE, "structured"));
        String s = KafkaTestSupport.unique("structured");
        Recorder rec = new Recorder();
        KafkaTestSupport.awaitAssigned(t.subscribe(request(s + "-g", s, 1, "order.placed"), rec));
        TransportMessage m = message(s, "order-1", "order.placed", "{\"orderId\":\"order-1\",\"qty\":2}")
                .withHeaders(Map.of(MessageHeaders.CORRELATION_ID, "corr-1", "eventbus-attempts", "1"));
        join(t.send(m));
        ConsumerRecord<byte[], byte[]> r = PlainKafka.awaitRecords(s, 1).get(0);
        assertThat(headers(r)).containsEntry("content-type", "application/cloudevents+json; charset=UTF-8")
                .containsEntry("eventbus-attempts", "1").doesNotContainKey("ce_id");
        com.fasterxml.jackson.databind.JsonNode json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.value());
        assertThat(json.get("id").asText()).isEqualTo(m.id());
        assertThat(json.get("type").asText()).isEqualTo("order.placed");
        assertThat(json.get("correlationid").asText()).isEqualTo("corr-1");
        assertThat(json.get("datacontenttype").asText()).isEqualTo("application/json");
        assertThat(json.get("data").get("qty").asInt()).isEqualTo(2);

        TransportMessage back = rec.awaitCount(1, WAIT).get(0).delivery().message();
        assertThat(back.id()).isEqualTo(m.id());
        assertThat(back.header(MessageHeaders.CORRELATION_ID)).isEqualTo("corr-1");
        assertThat(back.header("eventbus-attempts"))
                .as("bookkeeping headers on the main topic are not believed: only the retry topic's are").isNull();
        assertThat(new com.fasterxml.jackson.databind.ObjectMapper().readTree(back.body()))
                .isEqualTo(new com.fasterxml.jackson.databind.ObjectMapper().readTree(m.body()));
    }

    @Test
    void inMemoryRetriesHoldTheCommitButNotTheOtherRecords() {
        KafkaTransport t = transport(KafkaTestSupport.config("mem-retry").set(KafkaConfig.RETRY_TOPICS, "false"));
        String s = KafkaTestSupport.unique("memretry");
        Recorder rec = new Recorder(d -> text(d.message().body()).equals("slow") && d.attempt() < 3
                ? Outcome.retry(Duration.ofMillis(300), null, Map.of(MessageHeaders.ATTEMPTS, "" + d.attempt()))
                : Outcome.ack());
        KafkaSubscription sub = t.subscribe(request(s + "-g", s, 1, "t"), rec);
        KafkaTestSupport.awaitAssigned(sub);
        assertThat(sub.assignment()).as("no retry topic").isNotEmpty().allMatch(tp -> tp.topic().equals(s));
        join(t.send(message(s, "a", "t", "slow")));
        join(t.send(message(s, "b", "t", "fast")));
        List<Recorder.Received> got = rec.awaitCount(4, WAIT);
        assertThat(got).extracting(Recorder.Received::body).containsExactly("slow", "fast", "slow", "slow");
        assertThat(got).extracting(r -> r.delivery().attempt()).containsExactly(1, 1, 2, 3);
        assertThat(got.get(3).delivery().message().header(MessageHeaders.ATTEMPTS)).isEqualTo("2");
        assertThat((got.get(2).nanoTime() - got.get(0).nanoTime()) / 1_000_000).isGreaterThanOrEqualTo(290);
    }

    @Test
    void withTopicCreationOffSendAndSubscribeFailNamingTheMissingTopic() {
        KafkaTransport t = transport(KafkaTestSupport.config("strict").set(KafkaConfig.CREATE_TOPICS, "false"));
        String s = KafkaTestSupport.unique("missing");
        assertThatThrownBy(() -> t.send(message(s, "k", "t", "{}")).get(30, TimeUnit.SECONDS))
                .hasMessageContaining(s).hasMessageContaining(KafkaConfig.CREATE_TOPICS);
        assertThatThrownBy(() -> t.subscribe(request(s + "-g", s, 1), new Recorder()))
                .isInstanceOf(EventBusException.class).hasMessageContaining(s).hasMessageContaining("do not exist");
    }

    @Test
    void topicsGetThePrefixAndTheConfiguredPartitions() throws Exception {
        String prefix = KafkaTestSupport.unique("pfx") + ".";
        KafkaTransport t = transport(KafkaTestSupport.config("prefixed").set(KafkaConfig.TOPIC_PREFIX, prefix)
                .set(KafkaConfig.PARTITIONS, "5"));
        String s = "orders";
        Recorder rec = new Recorder();
        KafkaTestSupport.awaitAssigned(t.subscribe(request(s + "-g", s, 1, "t"), rec));
        join(t.send(message(s, "k", "t", "{}")));
        assertThat(rec.awaitCount(1, WAIT).get(0).delivery().message().stream()).isEqualTo("orders");
        try (Admin admin = dev.eventbus.kafka.testing.TestKafkaBroker.admin()) {
            var d = admin.describeTopics(List.of(prefix + "orders", prefix + "orders.DLT")).allTopicNames().get();
            assertThat(d.get(prefix + "orders").partitions()).hasSize(5);
            assertThat(d.get(prefix + "orders.DLT").partitions()).hasSize(5);
        }
    }

    @Test
    void theKeyCanComeFromAHeader() throws Exception {
        KafkaTransport t = transport(KafkaTestSupport.config("keyed").set(KafkaConfig.KEY_HEADER, "correlationid"));
        String s = KafkaTestSupport.unique("keyheader");
        join(t.send(message(s, "subject-1", "t", "{}").withHeaders(Map.of("correlationid", "flow-9"))));
        assertThat(text(PlainKafka.awaitRecords(s, 1).get(0).key())).isEqualTo("flow-9");
    }

    @Test
    void aSendTheBrokerRefusesFailsWithTheBrokersError() throws Exception {
        KafkaTransport t = transport();
        String s = KafkaTestSupport.unique("toobig");
        try (Admin admin = dev.eventbus.kafka.testing.TestKafkaBroker.admin()) {
            admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(s, 1, (short) 1)
                    .configs(Map.of("max.message.bytes", "1000")))).all().get();
        }
        byte[] noise = new byte[6000];
        new java.util.Random(42).nextBytes(noise); // incompressible, so lz4 cannot shrink it under the limit
        String body = java.util.Base64.getEncoder().encodeToString(noise);
        assertThatThrownBy(() -> t.send(message(s, "k", "t", body)).get(30, TimeUnit.SECONDS))
                .hasCauseInstanceOf(EventBusException.class)
                .hasMessageContaining("'" + s + "'")
                .hasMessageContaining("RecordTooLargeException");
        join(t.send(message(s, "k", "t", "{\"small\":true}")));
    }

    private static void awaitSplit(KafkaSubscription a, KafkaSubscription b, String topic) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (System.nanoTime() < deadline) {
            Set<TopicPartition> all = new HashSet<>();
            int na = 0;
            int nb = 0;
            for (TopicPartition tp : a.assignment()) {
                if (tp.topic().equals(topic)) {
                    na++;
                    all.add(tp);
                }
            }
            for (TopicPartition tp : b.assignment()) {
                if (tp.topic().equals(topic) && all.add(tp)) {
                    nb++;
                }
            }
            if (na > 0 && nb > 0 && all.size() == 3) {
                return;
            }
            sleep(20);
        }
        throw new AssertionError("the two consumers did not split the 3 partitions: " + a.assignment() + " / "
                + b.assignment());
    }

    private static int mainPartitions(KafkaSubscription s, String topic) {
        return (int) s.assignment().stream().filter(tp -> tp.topic().equals(topic)).count();
    }

    private static void awaitTotal(Recorder a, Recorder b, int n) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (a.count() + b.count() < n && System.nanoTime() < deadline) {
            sleep(20);
        }
        assertThat(a.count() + b.count()).isEqualTo(n);
    }

    private static List<DeadLetter> awaitDeadLetters(KafkaTransport t, String group, int n) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        List<DeadLetter> d = t.deadLetters().list(group, 100);
        while (d.size() < n && System.nanoTime() < deadline) {
            sleep(100);
            d = t.deadLetters().list(group, 100);
        }
        assertThat(d).hasSize(n);
        return d;
    }

    private static void awaitCondition(java.util.function.BooleanSupplier c) {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (!c.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met within 60 s");
            }
            sleep(10);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
