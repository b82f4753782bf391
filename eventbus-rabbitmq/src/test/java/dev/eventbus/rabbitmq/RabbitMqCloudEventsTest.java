package dev.eventbus.rabbitmq;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import dev.eventbus.DeadLetter;
import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.PublishOptions;
import dev.eventbus.rabbitmq.internal.WireMapping;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The CloudEvents AMQP binding against the real server, with a plain amqp-client on the other side: the bus writes
 * {@code cloudEvents_}-prefixed attributes, reads them (and the older {@code cloudEvents:} prefix), and a type no
 * group is bound to, published by an outsider, follows {@code eventbus.unknown-types} instead of vanishing.
 */
class RabbitMqCloudEventsTest {

    @EventType(name = "rce.order.placed", stream = "rce-orders")
    record Placed(String orderId) {
    }

    @EventType(name = "rce.order.cancelled", stream = "rce-orders")
    record Cancelled(String orderId) {
    }

    @EventType(name = "rce.legacy.placed", stream = "rce-legacy")
    record LegacyPlaced(String orderId) {
    }

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

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    private static void publishRaw(String routingKey, Map<String, Object> headers, AMQP.BasicProperties.Builder props,
                                   String body) throws Exception {
        try (Connection c = RabbitMqTestSupport.rawFactory().newConnection()) {
            Channel ch = c.createChannel();
            ch.confirmSelect();
            // not mandatory: an ordinary outside producer, whose unroutable messages the broker would drop
            ch.basicPublish(support.prefix() + "rce-orders", routingKey, false, props.headers(headers).build(),
                    body.getBytes(StandardCharsets.UTF_8));
            ch.waitForConfirmsOrDie(10_000);
        }
    }

    private static Map<String, Object> binding(String prefix, String id, String type) {
        Map<String, Object> h = new HashMap<>();
        h.put(prefix + "specversion", "1.0");
        h.put(prefix + "id", id);
        h.put(prefix + "type", type);
        h.put(prefix + "source", "urn:example:outside");
        h.put(prefix + "subject", "the-subject-" + id);
        h.put(prefix + "partitionkey", "key-" + id);
        return h;
    }

    @Test
    void aMessageFollowingTheCurrentBindingIsDecodedAndTheOlderPrefixStillIs() throws Exception {
        List<Envelope<Placed>> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.builder().service("rce-in").transport(support.transport()).build()) {
            bus.subscribeEnvelopes(Placed.class, "rce-in-g", got::add);
            // attributes only as application properties, no AMQP message_id/type: the binding's own form
            publishRaw("rce.order.placed", binding("cloudEvents_", "ce-new-1", "rce.order.placed"),
                    new AMQP.BasicProperties.Builder().contentType("application/json"), "{\"orderId\":\"n-1\"}");
            publishRaw("rce.order.placed", binding("cloudEvents:", "ce-old-1", "rce.order.placed"),
                    new AMQP.BasicProperties.Builder().contentType("application/json"), "{\"orderId\":\"o-1\"}");
            await(() -> got.size() == 2, "both events; dead letters: " + bus.deadLetters().list("rce-in-g"));
            assertThat(bus.deadLetters().list("rce-in-g")).isEmpty();
            Envelope<Placed> n = got.stream().filter(e -> e.id().equals("ce-new-1")).findFirst().orElseThrow();
            assertThat(n.event()).isEqualTo(new Placed("n-1"));
            assertThat(n.type()).isEqualTo("rce.order.placed");
            assertThat(n.source()).isEqualTo("urn:example:outside");
            assertThat(n.subject()).isEqualTo("the-subject-ce-new-1");
            assertThat(n.headers()).doesNotContainKey("partitionkey");
            assertThat(got).extracting(Envelope::id).containsExactlyInAnyOrder("ce-new-1", "ce-old-1");
        }
    }

    @Test
    void theBusWritesTheCurrentBindingWithAValidSourceAndThePartitionKey() throws Exception {
        try (EventBus bus = EventBus.builder().service("order service").transport(support.transport()).build();
             Connection c = RabbitMqTestSupport.rawFactory().newConnection()) {
            Channel ch = c.createChannel();
            String q = ch.queueDeclare("", false, true, true, null).getQueue();
            bus.subscribe(Placed.class, "rce-out-g", p -> { }); // declares the stream exchange
            ch.queueBind(q, support.prefix() + "rce-orders", "rce.order.placed");
            bus.publish(new Placed("p-1"), PublishOptions.builder().key("k-1").build()).get(20, TimeUnit.SECONDS);
            GetResponse r = null;
            for (int i = 0; i < 500 && r == null; i++) {
                r = ch.basicGet(q, true);
                Thread.sleep(20);
            }
            assertThat(r).isNotNull();
            Map<String, Object> h = r.getProps().getHeaders();
            assertThat(WireMapping.text(h.get("cloudEvents_id"))).isNotBlank().isEqualTo(r.getProps().getMessageId());
            assertThat(WireMapping.text(h.get("cloudEvents_type"))).isEqualTo("rce.order.placed");
            assertThat(WireMapping.text(h.get("cloudEvents_specversion"))).isEqualTo("1.0");
            assertThat(WireMapping.text(h.get("cloudEvents_time"))).isNotBlank();
            assertThat(WireMapping.text(h.get("cloudEvents_partitionkey"))).isEqualTo("k-1");
            assertThat(WireMapping.text(h.get("cloudEvents_subject"))).isEqualTo("k-1");
            String source = WireMapping.text(h.get("cloudEvents_source"));
            assertThat(source).isEqualTo("urn:eventbus:order%20service");
            assertThat(URI.create(source).isAbsolute()).isTrue();
            assertThat(r.getProps().getContentType()).isEqualTo("application/json");
        }
    }

    @Test
    void aTypeNoGroupIsBoundToFromAnOutsiderFollowsTheUnknownTypePolicyOrIsSkipped() throws Exception {
        List<Placed> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.builder().service("rce-unknown").transport(support.transport())
                .eventType(Cancelled.class).build()) {
            bus.subscribe(Placed.class, "rce-unknown-g", got::add);
            AMQP.BasicProperties.Builder json = new AMQP.BasicProperties.Builder().contentType("application/json");
            publishRaw("java.lang.ProcessBuilder", binding("cloudEvents_", "gadget-1", "java.lang.ProcessBuilder"),
                    json, "{\"command\":[\"sh\"]}");
            publishRaw("rce.order.cancelled", binding("cloudEvents_", "known-1", "rce.order.cancelled"), json,
                    "{\"orderId\":\"c-1\"}");
            publishRaw("rce.order.placed", binding("cloudEvents_", "good-1", "rce.order.placed"), json,
                    "{\"orderId\":\"g-1\"}");
            await(() -> got.size() == 1 && bus.deadLetters().list("rce-unknown-g").size() == 1,
                    "the good event and the unknown type's dead letter; have " + got + " and "
                            + bus.deadLetters().list("rce-unknown-g"));
            DeadLetter d = bus.deadLetters().list("rce-unknown-g").get(0);
            assertThat(d.message().id()).isEqualTo("gadget-1");
            assertThat(d.reason()).contains("unknown event type 'java.lang.ProcessBuilder'");
            assertThat(bus.stats().unknownTypes()).isEqualTo(1);
            await(() -> bus.stats().skipped() >= 1, "the known, unsubscribed type skipped");
            Thread.sleep(300);
            assertThat(bus.deadLetters().list("rce-unknown-g")).hasSize(1);
            assertThat(got).containsExactly(new Placed("g-1"));
        }
    }

    @Test
    void aStreamExchangeDeclaredByAnOlderVersionWithoutTheAlternateExchangeIsKeptAndStillWorks() throws Exception {
        try (Connection c = RabbitMqTestSupport.rawFactory().newConnection()) {
            c.createChannel().exchangeDeclare(support.prefix() + "rce-legacy", "topic", true);
        }
        List<LegacyPlaced> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.builder().service("rce-legacy").transport(support.transport()).build()) {
            bus.subscribe(LegacyPlaced.class, "rce-legacy-g", got::add);
            bus.publish(new LegacyPlaced("l-1")).get(20, TimeUnit.SECONDS);
            await(() -> got.size() == 1, "the event on the old exchange");
        }
        assertThat(got).containsExactly(new LegacyPlaced("l-1"));
    }
}
