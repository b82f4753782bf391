package dev.eventbus.rabbitmq;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.GetResponse;
import dev.eventbus.ConfigException;
import dev.eventbus.DeadLetter;
import dev.eventbus.EventBusException;
import dev.eventbus.rabbitmq.internal.KeyShards;
import dev.eventbus.rabbitmq.internal.WireMapping;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import dev.eventbus.testkit.Recorder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** RabbitMQ-specific behaviour, against the real server. */
class RabbitMqTransportTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
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

    private static String unique(String name) {
        return name + "-" + UUID.randomUUID().toString().substring(0, 8);
    }

    static TransportMessage message(String stream, String type, String key, String body) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, UUID.randomUUID().toString());
        h.put(MessageHeaders.SPECVERSION, "1.0");
        h.put(MessageHeaders.SOURCE, "/test");
        h.put(MessageHeaders.TYPE, type);
        h.put(MessageHeaders.DATACONTENTTYPE, "text/plain");
        h.put(MessageHeaders.TIME, Instant.now().toString());
        if (key != null) {
            h.put(MessageHeaders.SUBJECT, key);
        }
        return TransportMessage.of(stream, key, h, body.getBytes(StandardCharsets.UTF_8));
    }

    private static void join(CompletableFuture<?> f) {
        try {
            f.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new AssertionError("send failed: " + e, e);
        }
    }

    @Test
    void theBrokerFiltersByTypeSoAGroupNeverReceivesTypesItDidNotBind() throws Exception {
        RabbitMqTransport t = support.transport();
        String s = unique("filter");
        Recorder placed = new Recorder();
        Recorder shipped = new Recorder();
        t.subscribe(new SubscriptionRequest("billing", s, Set.of("order.placed"), 1, false), placed);
        TransportSubscription sub = t.subscribe(new SubscriptionRequest("shipping", s, Set.of("order.shipped"), 1, false), shipped);
        for (int i = 0; i < 10; i++) {
            join(t.send(message(s, i % 2 == 0 ? "order.placed" : "order.shipped", "k" + i, "m" + i)));
        }
        assertThat(placed.awaitCount(5, WAIT)).allSatisfy(r -> assertThat(r.delivery().message().type()).isEqualTo("order.placed"));
        assertThat(shipped.awaitCount(5, WAIT)).allSatisfy(r -> assertThat(r.delivery().message().type()).isEqualTo("order.shipped"));
        assertThat(placed.after(Duration.ofMillis(300))).hasSize(5);

        // Later the shipping group wants a second type: only a new binding makes it arrive.
        sub.updateTypes(Set.of("order.shipped", "order.placed"));
        join(t.send(message(s, "order.placed", "k", "late")));
        assertThat(shipped.awaitCount(6, WAIT).get(5).body()).isEqualTo("late");
        assertThat(placed.awaitCount(6, WAIT).get(5).body()).isEqualTo("late");
    }

    @Test
    void aPublishThatNoGroupCanReceiveFailsUnlessMandatoryIsOffAndAnUnboundTypeReachesTheGroups() throws Exception {
        RabbitMqTransport t = support.transport();
        String s = unique("unroutable");
        assertThatThrownBy(() -> t.send(message(s, "nobody.wants.this", "k", "x")).get(10, TimeUnit.SECONDS))
                .as("no group on the stream at all: refused").isInstanceOf(ExecutionException.class)
                .cause().isInstanceOf(EventBusException.class)
                .hasMessageContaining("no queue is bound").hasMessageContaining("nobody.wants.this")
                .hasMessageContaining(RabbitMqConfig.MANDATORY);
        RabbitMqTransport lenient = support.track(RabbitMqTransport.create(support.config().mandatory(false).build()));
        lenient.send(message(s, "nobody.wants.this", "k", "x")).get(10, TimeUnit.SECONDS);
        // With a group, a type it is not bound to reaches it through the stream's alternate exchange, so the bus's
        // dispatcher decides (unknown type: eventbus.unknown-types; known but unsubscribed: skipped).
        Recorder rec = new Recorder();
        t.subscribe(new SubscriptionRequest("g", s, Set.of("bound.type"), 1, false), rec);
        t.send(message(s, "nobody.wants.this", "k", "y")).get(10, TimeUnit.SECONDS);
        t.send(message(s, "bound.type", "k", "z")).get(10, TimeUnit.SECONDS);
        assertThat(rec.awaitCount(2, WAIT)).extracting(r -> r.delivery().message().type())
                .containsExactlyInAnyOrder("nobody.wants.this", "bound.type");
    }

    @Test
    void anExchangeDeletedBehindOurBackFailsOnePublishAndIsDeclaredAgainForTheNext() throws Exception {
        RabbitMqTransport t = support.track(RabbitMqTransport.create(support.config().mandatory(false).build()));
        String s = unique("deleted");
        t.send(message(s, "t.x", null, "1")).get(10, TimeUnit.SECONDS);
        try (Connection c = RabbitMqTestSupport.rawFactory().newConnection()) {
            c.createChannel().exchangeDelete(support.prefix() + s);
        }
        assertThatThrownBy(() -> t.send(message(s, "t.x", null, "2")).get(10, TimeUnit.SECONDS))
                .cause().isInstanceOf(EventBusException.class).hasMessageContaining("NOT_FOUND");
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            try {
                t.send(message(s, "t.x", null, "3")).get(10, TimeUnit.SECONDS);
                break;
            } catch (ExecutionException e) {
                // a publish racing the channel's close may fail too; the next one must succeed
                assertThat(System.nanoTime()).as("publishing recovered").isLessThan(deadline);
            }
        }
    }

    @Test
    void retriesGoThroughWaitQueuesThenTheDeadLetterQueueWithTheFailureInItsHeaders() throws Exception {
        RabbitMqTransport t = support.transport();
        String s = unique("dlq");
        AtomicInteger calls = new AtomicInteger();
        Recorder rec = new Recorder(d -> {
            calls.incrementAndGet();
            IllegalStateException boom = new IllegalStateException("warehouse down " + d.attempt());
            if (d.attempt() < 3) {
                return Outcome.retry(Duration.ofMillis(300L * d.attempt()), boom, Map.of(MessageHeaders.ATTEMPTS,
                        Integer.toString(d.attempt()), MessageHeaders.FIRST_FAILURE, "2024-01-01T00:00:00Z"));
            }
            return Outcome.dead("gave up after 3 attempts", boom, Map.of());
        });
        t.subscribe(new SubscriptionRequest("g", s, Set.of("t.x"), 1, false), rec);
        TransportMessage m = message(s, "t.x", "order-7", "payload");
        join(t.send(m));
        List<Recorder.Received> got = rec.awaitCount(3, WAIT);
        assertThat((got.get(1).nanoTime() - got.get(0).nanoTime()) / 1_000_000).isGreaterThanOrEqualTo(290);
        assertThat((got.get(2).nanoTime() - got.get(1).nanoTime()) / 1_000_000).isGreaterThanOrEqualTo(590);
        assertThat(t.declaredQueues()).contains(support.prefix() + s + ".g.retry.300ms", support.prefix() + s + ".g.retry.600ms");

        // Read the dead-letter queue with a plain client: the headers are there under their documented names.
        String dlq = support.prefix() + s + ".g.dlq";
        GetResponse r = null;
        try (Connection c = RabbitMqTestSupport.rawFactory().newConnection()) {
            Channel ch = c.createChannel();
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (r == null && System.nanoTime() < deadline) {
                r = ch.basicGet(dlq, false);
                RabbitMqTestSupport.sleep(50);
            }
            assertThat(r).as("message in %s", dlq).isNotNull();
            Map<String, Object> h = r.getProps().getHeaders();
            assertThat(WireMapping.text(h.get("eventbus-dlq-exception"))).isEqualTo("java.lang.IllegalStateException");
            assertThat(WireMapping.text(h.get("eventbus-dlq-message"))).isEqualTo("warehouse down 3");
            assertThat(WireMapping.text(h.get("eventbus-dlq-stack"))).startsWith("java.lang.IllegalStateException: warehouse down 3")
                    .contains("\tat ");
            assertThat(WireMapping.text(h.get("eventbus-attempts"))).isEqualTo("3");
            assertThat(WireMapping.text(h.get("eventbus-first-failure"))).isEqualTo("2024-01-01T00:00:00Z");
            assertThat(WireMapping.text(h.get("eventbus-dlq-original-routing-key"))).isEqualTo("t.x");
            assertThat(WireMapping.text(h.get("eventbus-dlq-reason"))).isEqualTo("gave up after 3 attempts");
            assertThat(WireMapping.text(h.get("eventbus-dlq-group"))).isEqualTo("g");
            assertThat(r.getProps().getMessageId()).isEqualTo(m.id());
            assertThat(new String(r.getBody(), StandardCharsets.UTF_8)).isEqualTo("payload");
            ch.close(); // requeues it
        }
        List<DeadLetter> dead = t.deadLetters().list("g", 10);
        assertThat(dead).hasSize(1);
        assertThat(dead.get(0).attempts()).isEqualTo(3);
        assertThat(dead.get(0).message().key()).isEqualTo("order-7");
        assertThat(calls.get()).isEqualTo(3);
    }

    @Test
    void theQuorumDeliveryLimitDeadLettersAMessageWhoseConsumerKeepsCrashing() {
        RabbitMqTransport t = support.track(RabbitMqTransport.create(support.config().deliveryLimit(2).build()));
        String s = unique("poison");
        Recorder rec = new Recorder(d -> {
            throw new OutOfMemoryError("simulated crash on every attempt");
        });
        t.subscribe(new SubscriptionRequest("g", s, Set.of("t.x"), 1, false), rec);
        join(t.send(message(s, "t.x", "k", "poison")));
        long deadline = System.nanoTime() + WAIT.toNanos();
        List<DeadLetter> dead = t.deadLetters().list("g", 10);
        while (dead.isEmpty() && System.nanoTime() < deadline) {
            RabbitMqTestSupport.sleep(100);
            dead = t.deadLetters().list("g", 10);
        }
        assertThat(dead).hasSize(1);
        assertThat(dead.get(0).reason()).contains("delivery limit");
        assertThat(rec.count()).isEqualTo(3); // first delivery + 2 redeliveries, then the broker gave up
    }

    @Test
    void priorityOrderOnClassicQueuesWithAMaximumPriority() {
        RabbitMqTransport t = support.track(RabbitMqTransport.create(support.config()
                .queueType(RabbitMqConfig.QueueType.CLASSIC).maxPriority(10).prefetch(1).build()));
        assertThat(t.capabilities()).contains(Capability.PRIORITY);
        String s = unique("prio");
        SubscriptionRequest req = new SubscriptionRequest("g", s, Set.of("t.x"), 1, false);
        t.subscribe(req, new Recorder()).close(Duration.ofSeconds(2)); // declares and binds the queue
        for (int i = 0; i < 10; i++) {
            int p = i % 3 == 0 ? 9 : 1;
            join(t.send(message(s, "t.x", null, p + ":" + i).withPriority(p)));
        }
        Recorder rec = new Recorder();
        t.subscribe(req, rec);
        List<String> bodies = rec.awaitCount(10, WAIT).stream().map(Recorder.Received::body).toList();
        assertThat(bodies.subList(0, 4)).allSatisfy(b -> assertThat(b).startsWith("9:"));
        assertThat(bodies.subList(4, 10)).allSatisfy(b -> assertThat(b).startsWith("1:"));
        assertThat(rec.received().get(0).delivery().message().priority()).isEqualTo(9);
    }

    @Test
    void priorityIsAbsentWithoutAMaximumPriority() {
        assertThat(support.transport().capabilities()).doesNotContain(Capability.PRIORITY);
    }

    @Test
    void aQueueThatExistsWithOtherArgumentsFailsSayingWhichArgumentAndHowToFixIt() {
        String s = unique("mismatch");
        SubscriptionRequest req = new SubscriptionRequest("g", s, Set.of("t.x"), 1, false);
        // Someone ran the group on classic queues before; now the configuration says quorum.
        RabbitMqTransport classic = support.track(RabbitMqTransport.create(support.config()
                .queueType(RabbitMqConfig.QueueType.CLASSIC).build()));
        classic.subscribe(req, new Recorder()).close(Duration.ofSeconds(2));
        RabbitMqTransport quorum = support.transport();
        assertThatThrownBy(() -> quorum.subscribe(req, new Recorder()))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("inequivalent arg")
                .hasMessageContaining(RabbitMqConfig.QUEUE_TYPE)
                .hasMessageContaining(support.prefix() + s + ".g")
                .hasMessageContaining("delete");
    }

    @Test
    void ourMessagesAreReadableByAPlainClientThatKnowsOnlyTheDocumentedMapping() throws Exception {
        RabbitMqTransport t = support.transport();
        String s = unique("interop-out");
        String exchange = support.prefix() + s;
        t.send(message(s, "warmup", null, "x")).handle((v, e) -> null).get(10, TimeUnit.SECONDS); // declares the exchange
        try (Connection c = RabbitMqTestSupport.rawFactory().newConnection()) {
            Channel ch = c.createChannel();
            String q = ch.queueDeclare().getQueue();
            ch.queueBind(q, exchange, "order.placed");
            Map<String, String> h = new LinkedHashMap<>(message(s, "order.placed", "order-1", "{}").headers());
            h.put(MessageHeaders.CORRELATION_ID, "corr-1");
            h.put(MessageHeaders.TIME, "2025-03-04T05:06:07.123456Z");
            h.put("tenant-id", "acme");
            TransportMessage m = new TransportMessage(s, "order-1", h, "{\"a\":1}".getBytes(StandardCharsets.UTF_8), null, 0);
            join(t.send(m));
            GetResponse r = null;
            for (int i = 0; i < 100 && r == null; i++) {
                r = ch.basicGet(q, true);
                RabbitMqTestSupport.sleep(20);
            }
            assertThat(r).isNotNull();
            AMQP.BasicProperties p = r.getProps();
            assertThat(r.getEnvelope().getRoutingKey()).isEqualTo("order.placed");
            assertThat(p.getMessageId()).isEqualTo(m.id());
            assertThat(p.getType()).isEqualTo("order.placed");
            assertThat(p.getContentType()).isEqualTo("text/plain");
            assertThat(p.getDeliveryMode()).isEqualTo(2);
            assertThat(p.getTimestamp()).isEqualTo(Date.from(Instant.parse("2025-03-04T05:06:07Z")));
            Map<String, Object> headers = p.getHeaders();
            assertThat(WireMapping.text(headers.get("cloudEvents_id"))).isEqualTo(m.id());
            assertThat(WireMapping.text(headers.get("cloudEvents_type"))).isEqualTo("order.placed");
            assertThat(WireMapping.text(headers.get("cloudEvents_specversion"))).isEqualTo("1.0");
            assertThat(WireMapping.text(headers.get("cloudEvents_source"))).isEqualTo("/test");
            assertThat(WireMapping.text(headers.get("cloudEvents_subject"))).isEqualTo("order-1");
            assertThat(WireMapping.text(headers.get("cloudEvents_time"))).isEqualTo("2025-03-04T05:06:07.123456Z");
            assertThat(WireMapping.text(headers.get("cloudEvents_correlationid"))).isEqualTo("corr-1");
            assertThat(WireMapping.text(headers.get("cloudEvents_partitionkey"))).isEqualTo("order-1");
            assertThat(WireMapping.text(headers.get("tenant-id"))).isEqualTo("acme");
            assertThat(headers).doesNotContainKeys("cloudEvents_datacontenttype");
            assertThat(headers.keySet()).as("the older prefix is read, never written")
                    .noneMatch(k -> k.startsWith("cloudEvents:"));
            assertThat(new String(r.getBody(), StandardCharsets.UTF_8)).isEqualTo("{\"a\":1}");
        }
    }

    @Test
    void aPlainClientsMessageWithTheDocumentedMappingReachesOurHandlerWithTheSameNames() throws Exception {
        RabbitMqTransport t = support.transport();
        String s = unique("interop-in");
        Recorder rec = new Recorder();
        t.subscribe(new SubscriptionRequest("g", s, Set.of("order.placed"), 1, false), rec);
        try (Connection c = RabbitMqTestSupport.rawFactory().newConnection()) {
            Channel ch = c.createChannel();
            Map<String, Object> headers = new HashMap<>();
            headers.put("cloudEvents:specversion", "1.0");
            headers.put("cloudEvents:source", "/legacy-shop");
            headers.put("cloudEvents:subject", "order-9");
            headers.put("cloudEvents:partitionkey", "order-9");
            headers.put("cloudEvents:correlationid", "corr-9");
            headers.put("tenant-id", "acme");
            AMQP.BasicProperties props = new AMQP.BasicProperties.Builder().messageId("legacy-1").type("order.placed")
                    .contentType("application/json").timestamp(Date.from(Instant.parse("2025-01-02T03:04:05Z")))
                    .deliveryMode(2).headers(headers).build();
            ch.basicPublish(support.prefix() + s, "order.placed", props, "{\"orderId\":\"order-9\"}".getBytes(StandardCharsets.UTF_8));
        }
        TransportMessage m = rec.awaitCount(1, WAIT).get(0).delivery().message();
        assertThat(m.id()).isEqualTo("legacy-1");
        assertThat(m.type()).isEqualTo("order.placed");
        assertThat(m.key()).isEqualTo("order-9");
        assertThat(m.stream()).isEqualTo(s);
        assertThat(m.headers()).containsEntry(MessageHeaders.DATACONTENTTYPE, "application/json")
                .containsEntry(MessageHeaders.SOURCE, "/legacy-shop")
                .containsEntry(MessageHeaders.SUBJECT, "order-9")
                .containsEntry(MessageHeaders.SPECVERSION, "1.0")
                .containsEntry(MessageHeaders.CORRELATION_ID, "corr-9")
                .containsEntry(MessageHeaders.TIME, "2025-01-02T03:04:05Z")
                .containsEntry("tenant-id", "acme");
        assertThat(new String(m.body(), StandardCharsets.UTF_8)).isEqualTo("{\"orderId\":\"order-9\"}");
    }

    @Test
    void competingConsumersOfOneGroupWithoutKeyOrderSplitTheLoad() {
        RabbitMqTransport a = support.transport();
        RabbitMqTransport b = support.transport();
        String s = unique("compete");
        Recorder ra = new Recorder(d -> {
            RabbitMqTestSupport.sleep(2);
            return Outcome.ack();
        });
        Recorder rb = new Recorder(d -> {
            RabbitMqTestSupport.sleep(2);
            return Outcome.ack();
        });
        a.subscribe(new SubscriptionRequest("g", s, Set.of("t.x"), 2, false), ra);
        b.subscribe(new SubscriptionRequest("g", s, Set.of("t.x"), 2, false), rb);
        List<CompletableFuture<Void>> fs = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            fs.add(a.send(message(s, "t.x", null, "m" + i)));
        }
        fs.forEach(RabbitMqTransportTest::join);
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (ra.count() + rb.count() < 200 && System.nanoTime() < deadline) {
            RabbitMqTestSupport.sleep(20);
        }
        List<String> all = new ArrayList<>(ra.bodies());
        all.addAll(rb.bodies());
        assertThat(all).hasSize(200).doesNotHaveDuplicates();
        assertThat(ra.count()).isGreaterThan(40);
        assertThat(rb.count()).isGreaterThan(40);
    }

    @Test
    void perKeyOrderAcrossTwoInstancesThatShareTheShards() throws Exception {
        RabbitMqTransport a = support.transport();
        RabbitMqTransport b = support.transport();
        String s = unique("ordered");
        Map<String, LinkedBlockingQueue<Integer>> seen = new java.util.concurrent.ConcurrentHashMap<>();
        java.util.function.Function<dev.eventbus.spi.Delivery, Outcome> h = d -> {
            String[] parts = new String(d.message().body(), StandardCharsets.UTF_8).split(":");
            seen.computeIfAbsent(parts[0], k -> new LinkedBlockingQueue<>()).add(Integer.parseInt(parts[1]));
            RabbitMqTestSupport.sleep(1);
            return Outcome.ack();
        };
        Recorder ra = new Recorder(h);
        Recorder rb = new Recorder(h);
        SubscriptionRequest req = new SubscriptionRequest("g", s, Set.of("t.x"), 4, true);
        var sa = (dev.eventbus.rabbitmq.internal.GroupSubscription) a.subscribe(req, ra);
        var sb = (dev.eventbus.rabbitmq.internal.GroupSubscription) b.subscribe(req, rb);
        assertThat(sa.awaitBalanced(WAIT)).isTrue();
        assertThat(sb.awaitBalanced(WAIT)).isTrue();
        assertThat(sa.ownedShards()).doesNotContainAnyElementsOf(sb.ownedShards());
        assertThat(sa.ownedShards().size() + sb.ownedShards().size()).isEqualTo(8);
        List<CompletableFuture<Void>> fs = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            for (int k = 0; k < 12; k++) {
                fs.add(a.send(message(s, "t.x", "key-" + k, "key-" + k + ":" + i)));
            }
        }
        fs.forEach(RabbitMqTransportTest::join);
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (ra.count() + rb.count() < 600 && System.nanoTime() < deadline) {
            RabbitMqTestSupport.sleep(20);
        }
        assertThat(ra.count() + rb.count()).isEqualTo(600);
        assertThat(ra.count()).isPositive();
        assertThat(rb.count()).isPositive();
        for (Map.Entry<String, LinkedBlockingQueue<Integer>> e : seen.entrySet()) {
            assertThat(new ArrayList<>(e.getValue())).as("order of %s", e.getKey()).isSorted().hasSize(50);
        }
        // One instance leaves: the other takes over every shard.
        b.close(Duration.ofSeconds(5));
        long until = System.nanoTime() + WAIT.toNanos();
        while (sa.ownedShards().size() < 8 && System.nanoTime() < until) {
            RabbitMqTestSupport.sleep(50);
        }
        assertThat(sa.ownedShards()).hasSize(8);
    }

    @Test
    void groupsWithDifferentShardCountsAndTypesEachGetTheirTypesOnceInKeyOrderDelayedOnesToo() throws Exception {
        String s = unique("shards");
        RabbitMqTransport three = support.track(RabbitMqTransport.create(support.config().shards(3).build()));
        RabbitMqTransport eight = support.transport();
        Map<String, Map<String, List<Integer>>> seen = new java.util.concurrent.ConcurrentHashMap<>();
        java.util.function.Function<String, Recorder> recorder = g -> new Recorder(d -> {
            String[] parts = new String(d.message().body(), StandardCharsets.UTF_8).split(":");
            seen.computeIfAbsent(g, x -> new java.util.concurrent.ConcurrentHashMap<>())
                    .computeIfAbsent(parts[0], x -> java.util.Collections.synchronizedList(new ArrayList<>()))
                    .add(Integer.parseInt(parts[1]));
            return Outcome.ack();
        });
        Recorder onlyA = recorder.apply("onlyA");
        Recorder both = recorder.apply("both");
        Recorder all = recorder.apply("all");
        three.subscribe(new SubscriptionRequest("onlyA", s, Set.of("t.a"), 2, true), onlyA);
        eight.subscribe(new SubscriptionRequest("both", s, Set.of("t.a", "t.b"), 4, true), both);
        eight.subscribe(new SubscriptionRequest("all", s, Set.of(), 1, false), all);
        List<CompletableFuture<Void>> fs = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            for (int k = 0; k < 6; k++) {
                fs.add(eight.send(message(s, k % 2 == 0 ? "t.a" : "t.b", "key-" + k, "key-" + k + ":" + i)));
            }
        }
        // Delayed ones travel through the delay queue: they still reach the key's shard (CC route).
        for (int k = 0; k < 6; k++) {
            TransportMessage m = message(s, k % 2 == 0 ? "t.a" : "t.b", "key-" + k, "key-" + k + ":" + 20);
            fs.add(eight.send(new TransportMessage(m.stream(), m.key(), m.headers(), m.body(),
                    Instant.now().plusMillis(300), 0)));
        }
        fs.forEach(RabbitMqTransportTest::join);
        onlyA.awaitCount(63, WAIT);
        both.awaitCount(126, WAIT);
        all.awaitCount(126, WAIT);
        assertThat(onlyA.after(Duration.ofMillis(500))).as("only t.a, each once").hasSize(63)
                .allSatisfy(r -> assertThat(r.delivery().message().type()).isEqualTo("t.a"));
        assertThat(both.received()).hasSize(126);
        assertThat(all.received()).hasSize(126);
        for (String g : List.of("onlyA", "both")) {
            seen.get(g).forEach((key, order) -> assertThat(order).as("%s: order of %s", g, key)
                    .containsExactlyElementsOf(java.util.stream.IntStream.rangeClosed(0, 20).boxed().toList()));
        }
        // The shard a key is read from is the one its bucket names, for each group's count.
        for (Recorder.Received r : both.received()) {
            int shard = KeyShards.shardOf(KeyShards.bucket(r.delivery().message().key()), 8);
            assertThat(r.delivery().origin()).startsWith(support.prefix() + s + ".both.shard-" + shard + "#");
        }
        for (Recorder.Received r : onlyA.received()) {
            int shard = KeyShards.shardOf(KeyShards.bucket(r.delivery().message().key()), 3);
            assertThat(r.delivery().origin()).startsWith(support.prefix() + s + ".onlyA.shard-" + shard + "#");
        }
    }

    @Test
    void aRetryOfAnOrderedGroupComesBackOnItsShardAndAPlainClientsMessageWithoutARouteOnShardZero() throws Exception {
        RabbitMqTransport t = support.transport();
        String s = unique("ordered-retry");
        Recorder rec = new Recorder(d -> d.attempt() == 1 && d.message().key() != null
                ? Outcome.retry(Duration.ofMillis(200), new IllegalStateException("once more"), Map.of())
                : Outcome.ack());
        t.subscribe(new SubscriptionRequest("g", s, Set.of("t.x"), 2, true), rec);
        join(t.send(message(s, "t.x", "order-42", "retried")));
        List<Recorder.Received> got = rec.awaitCount(2, WAIT);
        int shard = KeyShards.shardOf(KeyShards.bucket("order-42"), 8);
        String shardQueue = support.prefix() + s + ".g.shard-" + shard + "#";
        assertThat(got).extracting(r -> r.delivery().origin()).allSatisfy(o -> assertThat(o).startsWith(shardQueue));
        assertThat(got.get(1).delivery().attempt()).isEqualTo(2);
        assertThat(got.get(1).delivery().message().headers()).doesNotContainKeys("CC", "BCC");
        try (Connection c = RabbitMqTestSupport.rawFactory().newConnection()) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            ch.basicPublish(support.prefix() + s, "t.x", true, new AMQP.BasicProperties.Builder().messageId("plain-1")
                    .type("t.x").build(), "plain".getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(10_000);
        }
        Recorder.Received plain = rec.awaitCount(3, WAIT).get(2);
        assertThat(plain.body()).isEqualTo("plain");
        assertThat(plain.delivery().origin()).startsWith(support.prefix() + s + ".g.shard-0#");
    }

    @Test
    void theShardCountOfAnExistingGroupCannotChangeAndTheErrorSaysWhatToDo() {
        String s = unique("reshard");
        SubscriptionRequest req = new SubscriptionRequest("g", s, Set.of("t.x"), 1, true);
        RabbitMqTransport four = support.track(RabbitMqTransport.create(support.config().shards(4).build()));
        four.subscribe(req, new Recorder()).close(Duration.ofSeconds(2));
        for (int shards : new int[]{8, 2}) {
            RabbitMqTransport other = support.track(RabbitMqTransport.create(support.config().shards(shards).build()));
            assertThatThrownBy(() -> other.subscribe(req, new Recorder()))
                    .isInstanceOf(ConfigException.class)
                    .hasMessageContaining(RabbitMqConfig.SHARDS + "=" + shards)
                    .hasMessageContaining("already has 4 shard queues")
                    .hasMessageContaining("Keep " + RabbitMqConfig.SHARDS + "=4")
                    .hasMessageContaining("new group");
        }
        RabbitMqTransport again = support.track(RabbitMqTransport.create(support.config().shards(4).build()));
        again.subscribe(req, new Recorder()).close(Duration.ofSeconds(2));
    }
}
