package dev.eventbus.rabbitmq;

import dev.eventbus.DeadLetter;
import dev.eventbus.Envelope;
import dev.eventbus.Event;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.PublishOptions;
import dev.eventbus.RetryPolicy;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/** A translation between two services over the real RabbitMQ server: lineage kept, delayed retries, dead letters. */
class RabbitMqTranslationTest {

    @EventType(name = "rmq.tr.order.placed", stream = "rmq-tr-orders")
    record OrderPlaced(String orderId, long cents) implements Event {
        @Override
        public String eventKey() {
            return orderId;
        }
    }

    @EventType(name = "rmq.tr.partner.order", stream = "rmq-tr-partner")
    record PartnerOrder(String reference, double amount) {
    }

    static final String TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

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

    private static EventBus bus(String service, RetryPolicy retry) {
        return EventBus.builder().service(service).transport(support.transport()).retryPolicy(retry).build();
    }

    @Test
    void aTranslationCrossesTheBrokerAsTheSourcesChildAfterADelayedRetry() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        List<Envelope<PartnerOrder>> got = new CopyOnWriteArrayList<>();
        RetryPolicy oneDelayedRetry = RetryPolicy.builder().maxAttempts(3).immediateRetries(0)
                .initialDelay(Duration.ofMillis(200)).jitter(0).build();
        try (EventBus shop = bus("shop", oneDelayedRetry); EventBus partner = bus("partner", RetryPolicy.defaults())) {
            shop.translate(OrderPlaced.class, e -> {
                if (calls.incrementAndGet() == 1) {
                    throw new IllegalStateException("partner catalogue not loaded yet");
                }
                return new PartnerOrder("ref-" + e.orderId(), e.cents() / 100.0);
            }).group("gateway").to("rmq-tr-partner");
            partner.subscribeEnvelopes(PartnerOrder.class, "partner-intake", got::add);

            TransportMessage source = shop.messageFor(new OrderPlaced("o-3", 1999), PublishOptions.none())
                    .withHeaders(Map.of(MessageHeaders.CORRELATION_ID, "checkout-7", MessageHeaders.TRACEPARENT, TRACEPARENT));
            shop.transport("rabbitmq").send(source).get(20, TimeUnit.SECONDS);

            await(() -> got.size() == 1, "the partner's copy");
            Envelope<PartnerOrder> out = got.get(0);
            assertThat(calls).as("first attempt failed, the delayed redelivery succeeded").hasValue(2);
            assertThat(out.event()).isEqualTo(new PartnerOrder("ref-o-3", 19.99));
            assertThat(out.correlationId()).isEqualTo("checkout-7");
            assertThat(out.causationId()).isEqualTo(source.id());
            assertThat(out.traceparent()).isEqualTo(TRACEPARENT);
            assertThat(out.subject()).isEqualTo("o-3");
            assertThat(out.stream()).isEqualTo("rmq-tr-partner");
        }
    }

    @Test
    void aTranslationThatKeepsFailingIsDeadLetteredInItsGroup() throws Exception {
        RetryPolicy twoAttempts = RetryPolicy.builder().maxAttempts(2).immediateRetries(0)
                .initialDelay(Duration.ofMillis(100)).jitter(0).build();
        try (EventBus shop = bus("shop2", twoAttempts)) {
            shop.translate(OrderPlaced.class, e -> {
                throw new IllegalArgumentException("no partner code for " + e.orderId());
            }).group("gateway2").to("rmq-tr-partner");
            shop.publish(new OrderPlaced("o-4", 5)).get(20, TimeUnit.SECONDS);
            await(() -> !shop.deadLetters().list("gateway2").isEmpty(), "the dead letter");
            DeadLetter dl = shop.deadLetters().list("gateway2").get(0);
            assertThat(dl.reason()).contains("no partner code for o-4");
            assertThat(dl.attempts()).isEqualTo(2);
        }
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
}
