package dev.eventbus.outside;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.eventbus.DeadLetter;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.InMemoryTransport;
import dev.eventbus.Subscribe;
import dev.eventbus.UnknownTypePolicy;
import dev.eventbus.Upcaster;
import dev.eventbus.outside.Events.InvoiceSent;
import dev.eventbus.outside.Events.OrderPlaced;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

import static dev.eventbus.outside.RetryAndDeadLetterTest.await;
import static org.assertj.core.api.Assertions.assertThat;

/** Messages arriving through a transport: type checks, decoding, bad input, upcasting, routing. */
class TransportPathTest {

    private final InMemoryTransport transport = new InMemoryTransport();
    private final EventBus bus = EventBus.builder().service("consumer").transport(transport).build();

    @AfterEach
    void close() {
        bus.close();
    }

    static class Orders {
        final List<OrderPlaced> got = new CopyOnWriteArrayList<>();

        @Subscribe(group = "orders")
        void on(OrderPlaced e) {
            got.add(e);
        }
    }

    private static TransportMessage raw(String type, String body, String... extraHeaders) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, java.util.UUID.randomUUID().toString());
        h.put(MessageHeaders.SPECVERSION, "1.0");
        h.put(MessageHeaders.SOURCE, "elsewhere");
        if (type != null) {
            h.put(MessageHeaders.TYPE, type);
        }
        for (int i = 0; i < extraHeaders.length; i += 2) {
            h.put(extraHeaders[i], extraHeaders[i + 1]);
        }
        return TransportMessage.of("orders", "k", h, body.getBytes(StandardCharsets.UTF_8));
    }

    @Test
    void badInputIsDeadLetteredWithTheReasonAndConsumptionGoesOn() {
        Orders orders = new Orders();
        bus.register(orders);
        transport.send(raw("order.placed", "{not json")).join();
        transport.send(raw(null, "{}")).join();
        transport.send(raw("order.cancelled", "{}")).join();
        transport.send(raw("order.placed", "{\"orderId\":\"ok\",\"cents\":3}")).join();

        await(() -> orders.got.size() == 1 && bus.deadLetters().list("orders").size() == 3);
        assertThat(orders.got).containsExactly(new OrderPlaced("ok", 3));
        List<String> reasons = bus.deadLetters().list("orders").stream().map(DeadLetter::reason).toList();
        assertThat(reasons).anySatisfy(r -> assertThat(r).contains("cannot decode the body of 'order.placed'"));
        assertThat(reasons).anySatisfy(r -> assertThat(r).contains("missing header 'type'"));
        assertThat(reasons).anySatisfy(r -> assertThat(r).contains("unknown event type 'order.cancelled'"));
        assertThat(bus.stats().unknownTypes()).isEqualTo(1);
    }

    @Test
    void unknownTypesCanBeIgnoredByConfiguration() {
        try (EventBus ignoring = EventBus.builder().transport(new InMemoryTransport())
                .unknownTypes(UnknownTypePolicy.IGNORE).build()) {
            Orders orders = new Orders();
            ignoring.register(orders);
            ignoring.transport("memory").send(raw("order.cancelled", "{}")).join();
            ignoring.transport("memory").send(raw("order.placed", "{\"orderId\":\"after\",\"cents\":1}")).join();
            await(() -> orders.got.size() == 1);
            assertThat(ignoring.deadLetters().list()).isEmpty();
            assertThat(ignoring.stats().unknownTypes()).isEqualTo(1);
        }
    }

    @Test
    void registeredTypesNobodyInTheGroupWantsAreSkippedWithoutDecoding() {
        bus.register(new Orders());
        bus.register(new Object() {
            @Subscribe(group = "shipping")
            void on(Events.OrderShipped e) {
            }
        });
        // A body that would not decode: skipping must not even try.
        transport.send(raw("order.shipped", "garbage")).join();
        await(() -> bus.stats().skipped() == 1);
        assertThat(bus.deadLetters().list("orders")).isEmpty();
    }

    @EventType(name = "customer.registered", version = 3, stream = "orders")
    record CustomerRegistered(String id, String fullName, String country) {
    }

    @Test
    void upcastersBringOldVersionsToTheCurrentClassAndNewerVersionsAreRefused() {
        InMemoryTransport t = new InMemoryTransport();
        try (EventBus upcasting = EventBus.builder().transport(t)
                .upcaster(Upcaster.of("customer.registered", 1, json -> json.put("fullName", json.remove("name").asText())))
                .upcaster(Upcaster.of("customer.registered", 2, json -> (ObjectNode) json.put("country", "NL")))
                .build()) {
            List<CustomerRegistered> got = new CopyOnWriteArrayList<>();
            upcasting.subscribe(CustomerRegistered.class, "crm", got::add);
            t.send(raw("customer.registered", "{\"id\":\"c1\",\"name\":\"Ada\"}", MessageHeaders.SCHEMA_VERSION, "1")).join();
            t.send(raw("customer.registered", "{\"id\":\"c2\",\"fullName\":\"Bo\"}", MessageHeaders.SCHEMA_VERSION, "2")).join();
            t.send(raw("customer.registered", "{\"id\":\"c3\",\"fullName\":\"Cy\",\"country\":\"FR\"}",
                    MessageHeaders.SCHEMA_VERSION, "3")).join();
            t.send(raw("customer.registered", "{\"id\":\"c4\"}", MessageHeaders.SCHEMA_VERSION, "4")).join();
            await(() -> got.size() == 3 && upcasting.deadLetters().list("crm").size() == 1);
            assertThat(got).containsExactlyInAnyOrder(new CustomerRegistered("c1", "Ada", "NL"),
                    new CustomerRegistered("c2", "Bo", "NL"), new CustomerRegistered("c3", "Cy", "FR"));
            assertThat(upcasting.deadLetters().list("crm").get(0).reason()).contains("schema version 4, newer than version 3");
        }
    }

    @Test
    void serializeInMemoryCatchesEventsThatWouldNotSurviveABroker() {
        record Unserializable(Object self) {
        }
        try (EventBus strict = EventBus.builder().serializeInMemory(true).build()) {
            List<OrderPlaced> got = new CopyOnWriteArrayList<>();
            strict.subscribe(OrderPlaced.class, got::add);
            OrderPlaced sent = new OrderPlaced("copy", 1);
            strict.publish(sent).join();
            assertThat(got).containsExactly(sent);
            assertThat(got.get(0)).as("a decoded copy, not the same object").isNotSameAs(sent);
            strict.subscribe(Unserializable.class, e -> { });
            Unserializable bad = new Unserializable(new Object());
            assertThat(strict.publish(bad)).isCompletedExceptionally();
        }
    }

    /** A transport that only records what it is given (our own SPI, not a broker stand-in). */
    static final class RecordingTransport implements Transport {
        final List<TransportMessage> sent = new CopyOnWriteArrayList<>();
        final List<Integer> batches = new CopyOnWriteArrayList<>();
        final List<SubscriptionRequest> subscriptions = new CopyOnWriteArrayList<>();
        final List<MessageHandler> handlers = new CopyOnWriteArrayList<>();

        @Override
        public String name() {
            return "recording";
        }

        @Override
        public Set<Capability> capabilities() {
            return Set.of();
        }

        @Override
        public CompletableFuture<Void> send(TransportMessage message) {
            sent.add(message);
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletableFuture<Void> sendBatch(List<TransportMessage> messages) {
            batches.add(messages.size());
            sent.addAll(messages);
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public TransportSubscription subscribe(SubscriptionRequest request, MessageHandler handler) {
            subscriptions.add(request);
            handlers.add(handler);
            return timeout -> { };
        }

        @Override
        public void close(Duration timeout) {
        }
    }

    @Test
    void whereTheTransportFoundAMessageReachesConsumeInterceptorsAndNotTheWire() throws Exception {
        RecordingTransport recording = new RecordingTransport();
        List<Map<String, String>> seen = new CopyOnWriteArrayList<>();
        try (EventBus consumer = EventBus.builder().service("where").transport(recording)
                .consumeInterceptor(chain -> {
                    seen.add(chain.deliveryAttributes());
                    chain.proceed();
                }).build()) {
            List<OrderPlaced> got = new CopyOnWriteArrayList<>();
            consumer.subscribe(OrderPlaced.class, "orders", e -> {
                got.add(e);
                consumer.publish(new InvoiceSent(e.orderId(), 1)).join(); // forwarded: nothing of it on the wire
            });
            Map<String, String> where = Map.of(Delivery.PARTITION_ID, "3", Delivery.KAFKA_OFFSET, "1734");
            dev.eventbus.spi.Outcome outcome = recording.handlers.get(0).handle(new Delivery(
                    raw("order.placed", "{\"orderId\":\"w\",\"cents\":2}"), 1, "orders-3@1734", where));
            assertThat(outcome.kind()).isEqualTo(dev.eventbus.spi.Outcome.Kind.ACK);
            recording.handlers.get(0).handle(new Delivery(
                    raw("order.placed", "{\"orderId\":\"v\",\"cents\":2}"), 1, "orders-3@1735"));

            assertThat(got).extracting(OrderPlaced::orderId).containsExactly("w", "v");
            assertThat(seen).containsExactly(where, Map.of());
            assertThat(recording.sent).hasSize(2).allSatisfy(m -> assertThat(m.headers().keySet())
                    .noneMatch(k -> k.startsWith("messaging.")));
        }
    }

    @Test
    void routesSendEventTypesAndStreamsToNamedTransports() {
        RecordingTransport billing = new RecordingTransport();
        try (EventBus routed = EventBus.builder().service("shop").transport(new InMemoryTransport())
                .transport("billing", billing).routeStream("billing", "billing").build()) {
            List<OrderPlaced> local = new CopyOnWriteArrayList<>();
            routed.subscribe(OrderPlaced.class, local::add);
            routed.subscribe(InvoiceSent.class, "accounting", e -> { });
            routed.publish(new OrderPlaced("o", 1)).join();
            routed.publish(new InvoiceSent("o", 1)).join();
            routed.publishAll(List.of(new InvoiceSent("a", 1), new InvoiceSent("b", 2), new OrderPlaced("p", 3))).join();

            assertThat(local).extracting(OrderPlaced::orderId).containsExactly("o", "p");
            assertThat(billing.sent).extracting(TransportMessage::type).containsOnly("invoice.sent");
            assertThat(billing.sent).hasSize(3);
            assertThat(billing.batches).containsExactly(2);
            assertThat(billing.subscriptions).singleElement().satisfies(r -> {
                assertThat(r.group()).isEqualTo("accounting");
                assertThat(r.stream()).isEqualTo("billing");
                assertThat(r.types()).containsExactly("invoice.sent");
            });
        }
    }
}
