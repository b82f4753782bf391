package dev.eventbus;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/** Translations on the in-memory transport: lineage carried, key kept, failures on the retry ladder. */
class TranslationTest {

    @EventType(name = "tr.order.placed", stream = "orders")
    record OrderPlaced(String orderId, long cents) implements Event {
        @Override
        public String eventKey() {
            return orderId;
        }
    }

    @EventType(name = "partner.order", stream = "partner-orders")
    record PartnerOrder(String reference, double amount) {
    }

    static final String TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    private static EventBus bus() {
        return EventBus.builder().service("shop")
                .retryPolicy(RetryPolicy.builder().maxAttempts(3).immediateRetries(2).build()).build();
    }

    /** Sends {@code event} through the transport SPI with a correlation id and a trace, as a broker would deliver it. */
    private static TransportMessage sendWithLineage(EventBus bus, Object event) {
        TransportMessage m = bus.messageFor(event, PublishOptions.none()).withHeaders(Map.of(
                MessageHeaders.CORRELATION_ID, "checkout-42", MessageHeaders.TRACEPARENT, TRACEPARENT));
        bus.transport("memory").send(m).join();
        return m;
    }

    @Test
    void theTranslatedEventIsTheSourcesChildOnTheTargetStream() throws Exception {
        List<Envelope<PartnerOrder>> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = bus()) {
            bus.translate(OrderPlaced.class, e -> new PartnerOrder("ref-" + e.orderId(), e.cents() / 100.0))
                    .to("partner-orders");
            bus.subscribeEnvelopes(PartnerOrder.class, "partner", got::add);
            TransportMessage source = sendWithLineage(bus, new OrderPlaced("o-7", 4250));
            await(() -> got.size() == 1);
            Envelope<PartnerOrder> out = got.get(0);
            assertThat(out.event()).isEqualTo(new PartnerOrder("ref-o-7", 42.5));
            assertThat(out.stream()).isEqualTo("partner-orders");
            assertThat(out.correlationId()).as("correlation kept").isEqualTo("checkout-42");
            assertThat(out.causationId()).as("caused by the source event").isEqualTo(source.id());
            assertThat(out.traceparent()).as("trace context kept").isEqualTo(TRACEPARENT);
            assertThat(out.subject()).as("the source's key, so per-key order carries over").isEqualTo("o-7");
            assertThat(out.id()).isNotEqualTo(source.id());
        }
    }

    @Test
    void aMappingThatFailsIsRetriedThenSucceeds() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        List<PartnerOrder> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = bus()) {
            bus.translate(OrderPlaced.class, e -> {
                if (calls.incrementAndGet() < 3) {
                    throw new IllegalStateException("partner catalogue not loaded yet");
                }
                return new PartnerOrder(e.orderId(), e.cents());
            }).group("gateway").to("partner-orders");
            bus.subscribe(PartnerOrder.class, "partner", got::add);
            bus.publish(new OrderPlaced("o-1", 100)).join();
            await(() -> got.size() == 1);
            assertThat(calls).hasValue(3);
            assertThat(bus.deadLetters().list()).isEmpty();
        }
    }

    @Test
    void aMappingThatKeepsFailingIsDeadLetteredWithTheReason() throws Exception {
        List<PartnerOrder> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = bus()) {
            bus.translate(OrderPlaced.class, e -> {
                throw new IllegalArgumentException("no partner code for " + e.orderId());
            }).group("gateway").to("partner-orders");
            bus.subscribe(PartnerOrder.class, "partner", got::add);
            sendWithLineage(bus, new OrderPlaced("o-9", 100));
            await(() -> !bus.deadLetters().list("gateway").isEmpty());
            DeadLetter dl = bus.deadLetters().list("gateway").get(0);
            assertThat(dl.reason()).contains("no partner code for o-9");
            assertThat(dl.attempts()).isEqualTo(3);
            assertThat(got).isEmpty();
        }
    }

    @Test
    void aNullTranslationSendsNothing() throws Exception {
        List<PartnerOrder> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = bus()) {
            bus.translate(OrderPlaced.class, e -> e.cents() > 1000 ? new PartnerOrder(e.orderId(), e.cents()) : null)
                    .to("partner-orders");
            bus.subscribe(PartnerOrder.class, "partner", got::add);
            bus.publish(new OrderPlaced("small", 10)).join();
            bus.publish(new OrderPlaced("large", 5000)).join();
            await(() -> got.size() == 1);
            Thread.sleep(100);
            assertThat(got).extracting(PartnerOrder::reference).containsExactly("large");
        }
    }

    private static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out");
            }
            Thread.sleep(10);
        }
    }
}
