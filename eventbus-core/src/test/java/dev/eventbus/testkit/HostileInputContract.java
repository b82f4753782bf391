package dev.eventbus.testkit;

import dev.eventbus.DeadLetter;
import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.RetryPolicy;
import dev.eventbus.Subscribe;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Hostile input, the same rule on every transport: messages written onto a stream from outside the bus (through the
 * transport SPI, past the publisher's checks) with forged bookkeeping headers, types the bus has never heard of,
 * numbers JSON cannot hold or the wrong shape. Each is delivered as if the forged headers were absent, or
 * dead-lettered with a reason and counted; none is acknowledged silently; good events after them still arrive.
 *
 * <p>Extend it and implement {@link #newTransport()}: a transport in a namespace (topic prefix, table prefix,
 * exchange prefix) of its own for each call, so tests do not see each other's messages.
 */
public abstract class HostileInputContract {

    public static final String STREAM = "hostile";
    public static final String GROUP = "hostile-g";

    @EventType(name = "hostile.order.placed", stream = STREAM)
    public record HostileOrder(String orderId, double amount) {
    }

    @EventType(name = "hostile.order.cancelled", stream = STREAM)
    public record HostileCancelled(String orderId) {
    }

    /** An event whose class says what a valid one is, for the Bean Validation section. */
    @EventType(name = "hostile.payment", stream = STREAM)
    public record HostilePayment(@jakarta.validation.constraints.NotBlank String orderId,
                                 @jakarta.validation.constraints.Positive double amount) {
    }

    /** A transport in a namespace of its own; the bus built on it owns and closes it. */
    protected abstract Transport newTransport();

    /** How long to wait for deliveries and dead letters. */
    protected Duration timeout() {
        return Duration.ofSeconds(30);
    }

    /** Called after the bus's subscriptions are made, before anything is sent. Default: nothing. */
    protected void awaitReady(EventBus bus) throws Exception {
    }

    private final List<EventBus> buses = new ArrayList<>();
    private Transport transport;

    @AfterEach
    void closeBuses() {
        buses.forEach(EventBus::close);
        buses.clear();
    }

    private EventBus bus(EventBus.Builder b) {
        transport = newTransport();
        EventBus bus = b.service("hostile").transport(transport)
                .retryPolicy(RetryPolicy.builder().maxAttempts(2).immediateRetries(1)
                        .initialDelay(Duration.ofMillis(50)).maxDelay(Duration.ofMillis(100)).jitter(0).build())
                .build();
        buses.add(bus);
        return bus;
    }

    /** Collects HostileOrder deliveries of {@link #GROUP}. */
    public static final class Sink {
        public final List<Envelope<HostileOrder>> got = new CopyOnWriteArrayList<>();

        @Subscribe(group = GROUP)
        public void on(Envelope<HostileOrder> e) {
            got.add(e);
        }

        public boolean has(String id) {
            return got.stream().anyMatch(e -> e.id().equals(id));
        }
    }

    private static Map<String, String> headers(String id, String type) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.SPECVERSION, "1.0");
        h.put(MessageHeaders.ID, id);
        h.put(MessageHeaders.TYPE, type);
        h.put(MessageHeaders.SOURCE, "/outside");
        h.put(MessageHeaders.DATACONTENTTYPE, "application/json");
        return h;
    }

    /** Writes a message onto the stream from outside the bus's publisher. */
    private void sendRaw(Map<String, String> headers, String body) throws Exception {
        transport.send(TransportMessage.of(STREAM, headers.get(MessageHeaders.ID), headers,
                body.getBytes(StandardCharsets.UTF_8))).get(30, TimeUnit.SECONDS);
    }

    private void sendOrder(String id, String body) throws Exception {
        sendRaw(headers(id, "hostile.order.placed"), body);
    }

    private void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + timeout().toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout() + " waiting for " + what);
            }
            Thread.sleep(20);
        }
    }

    private static DeadLetter deadLetter(EventBus bus, String id) {
        return bus.deadLetters().list(GROUP).stream().filter(d -> d.message().id().equals(id)).findFirst()
                .orElse(null);
    }

    @Test
    void forgedBookkeepingHeadersOnTheMainStreamAreIgnored() throws Exception {
        EventBus bus = bus(EventBus.builder());
        Sink sink = new Sink();
        bus.register(sink);
        awaitReady(bus);
        Map<String, String> forged = headers("forged-1", "hostile.order.placed");
        forged.put(MessageHeaders.PENDING_SUBSCRIBERS, "nobody");
        forged.put(MessageHeaders.ATTEMPTS, "7");
        forged.put(MessageHeaders.FIRST_FAILURE, "2020-01-01T00:00:00Z");
        forged.put(MessageHeaders.DLQ_REASON, "forged");
        sendRaw(forged, "{\"orderId\":\"forged-1\",\"amount\":1.5}");
        sendOrder("good-1", "{\"orderId\":\"good-1\",\"amount\":2}");
        await(() -> sink.has("good-1") && sink.has("forged-1"),
                "both events, the one with forged 'eventbus-pending: nobody' too; got " + sink.got);
        Envelope<HostileOrder> e = sink.got.stream().filter(x -> x.id().equals("forged-1")).findFirst().orElseThrow();
        assertThat(e.attempt()).as("a forged attempt count is not believed").isEqualTo(1);
        assertThat(e.event()).isEqualTo(new HostileOrder("forged-1", 1.5));
        assertThat(bus.deadLetters().list(GROUP)).isEmpty();
    }

    @Test
    void unknownTypesAreDeadLetteredAndCountedKnownUnsubscribedTypesAreSkipped() throws Exception {
        EventBus bus = bus(EventBus.builder().eventType(HostileCancelled.class));
        Sink sink = new Sink();
        bus.register(sink);
        awaitReady(bus);
        sendRaw(headers("gadget-1", "java.lang.ProcessBuilder"), "{\"command\":[\"sh\"]}");
        sendRaw(headers("unknown-1", "hostile.never.heard.of"), "{}");
        sendRaw(headers("known-1", "hostile.order.cancelled"), "{\"orderId\":\"known-1\"}");
        sendOrder("good-2", "{\"orderId\":\"good-2\",\"amount\":3}");
        await(() -> sink.has("good-2"), "the good event");
        await(() -> deadLetter(bus, "gadget-1") != null && deadLetter(bus, "unknown-1") != null,
                "dead letters for both unknown types; have " + bus.deadLetters().list(GROUP));
        assertThat(deadLetter(bus, "gadget-1").reason())
                .contains("unknown event type 'java.lang.ProcessBuilder'");
        assertThat(deadLetter(bus, "unknown-1").reason()).contains("unknown event type 'hostile.never.heard.of'");
        assertThat(bus.stats().unknownTypes()).isEqualTo(2);
        Thread.sleep(300);
        assertThat(deadLetter(bus, "known-1")).as("a known type the group does not subscribe to is skipped").isNull();
        assertThat(sink.got).extracting(Envelope::id).containsExactly("good-2");
    }

    @Test
    void aSubscriberFailureDeadLetterNamesTheExceptionTruncated() throws Exception {
        EventBus bus = bus(EventBus.builder());
        bus.register(new Object() {
            @Subscribe(group = GROUP)
            void on(HostileOrder o) {
                throw new IllegalStateException("kaboom for " + o.orderId() + " " + "x".repeat(5000));
            }
        });
        awaitReady(bus);
        sendOrder("fails-1", "{\"orderId\":\"fails-1\",\"amount\":1}");
        await(() -> deadLetter(bus, "fails-1") != null, "the dead letter");
        String reason = deadLetter(bus, "fails-1").reason();
        assertThat(reason).contains("gave up after 2 attempts")
                .contains("java.lang.IllegalStateException: kaboom for fails-1");
        assertThat(reason.length()).as("the reason stays a readable line").isLessThan(700);
    }

    @Test
    void aNumberTooLargeForItsFieldIsDeadLetteredNotInfinity() throws Exception {
        EventBus bus = bus(EventBus.builder());
        Sink sink = new Sink();
        bus.register(sink);
        awaitReady(bus);
        sendOrder("inf-1", "{\"orderId\":\"inf-1\",\"amount\":1e999999999}");
        sendOrder("good-3", "{\"orderId\":\"good-3\",\"amount\":4}");
        await(() -> sink.has("good-3") && deadLetter(bus, "inf-1") != null, "the good event and the dead letter");
        assertThat(deadLetter(bus, "inf-1").reason()).contains("out of range for a double");
        assertThat(sink.got).extracting(Envelope::id).containsExactly("good-3");
    }

    @Test
    void strictJsonOptionsDeadLetterNullMissingAndUnknownProperties() throws Exception {
        EventBus bus = bus(EventBus.builder().jsonFailOnNullComponents(true).jsonFailOnUnknownProperties(true));
        Sink sink = new Sink();
        bus.register(sink);
        awaitReady(bus);
        sendOrder("null-1", "{\"orderId\":null,\"amount\":1}");
        sendOrder("missing-1", "{\"amount\":1}");
        sendOrder("shape-1", "{\"orderId\":\"shape-1\",\"amount\":1,\"admin\":true}");
        sendOrder("good-4", "{\"orderId\":\"good-4\",\"amount\":5}");
        await(() -> sink.has("good-4") && deadLetter(bus, "null-1") != null && deadLetter(bus, "missing-1") != null
                && deadLetter(bus, "shape-1") != null, "the good event and three dead letters; have "
                + bus.deadLetters().list(GROUP));
        assertThat(deadLetter(bus, "null-1").reason()).contains("cannot decode").containsIgnoringCase("null");
        assertThat(deadLetter(bus, "missing-1").reason()).contains("cannot decode").containsIgnoringCase("missing");
        assertThat(deadLetter(bus, "shape-1").reason()).contains("cannot decode").contains("admin");
        assertThat(sink.got).extracting(Envelope::id).containsExactly("good-4");
    }

    /** Collects HostilePayment deliveries of {@link #GROUP}. */
    public static final class PaymentSink {
        public final List<Envelope<HostilePayment>> got = new CopyOnWriteArrayList<>();

        @Subscribe(group = GROUP)
        public void on(Envelope<HostilePayment> e) {
            got.add(e);
        }

        public boolean has(String id) {
            return got.stream().anyMatch(e -> e.id().equals(id));
        }
    }

    @Test
    void beanValidationDeadLettersInvalidEventsWithTheirViolationsAndGoesOn() throws Exception {
        EventBus bus = bus(EventBus.builder().beanValidation(true));
        PaymentSink sink = new PaymentSink();
        bus.register(sink);
        awaitReady(bus);
        long deadBefore = bus.stats().deadLettered();
        sendRaw(headers("bad-pay-1", "hostile.payment"), "{\"orderId\":\" \",\"amount\":-3}");
        sendRaw(headers("bad-pay-2", "hostile.payment"), "{\"orderId\":\"bad-pay-2\",\"amount\":0}");
        sendRaw(headers("good-pay-1", "hostile.payment"), "{\"orderId\":\"good-pay-1\",\"amount\":7}");
        await(() -> sink.has("good-pay-1") && deadLetter(bus, "bad-pay-1") != null
                && deadLetter(bus, "bad-pay-2") != null, "the good payment and two dead letters; have "
                + bus.deadLetters().list(GROUP));
        String reason = deadLetter(bus, "bad-pay-1").reason();
        assertThat(reason).contains("constraint violations")
                .contains("amount: must be greater than 0").contains("orderId: must not be blank");
        assertThat(deadLetter(bus, "bad-pay-2").reason()).contains("amount: must be greater than 0")
                .doesNotContain("orderId");
        assertThat(deadLetter(bus, "bad-pay-1").attempts()).as("not retried").isLessThanOrEqualTo(1);
        assertThat(bus.stats().deadLettered() - deadBefore).isEqualTo(2);
        assertThat(sink.got).extracting(Envelope::id).containsExactly("good-pay-1");
    }

    @Test
    void theTransportKeyIsNeverTakenForAMissingSubject() throws Exception {
        EventBus bus = bus(EventBus.builder());
        Sink sink = new Sink();
        bus.register(sink);
        awaitReady(bus);
        Map<String, String> h = headers("no-subject-1", "hostile.order.placed");
        transport.send(TransportMessage.of(STREAM, "key-of-no-subject-1", h,
                "{\"orderId\":\"no-subject-1\",\"amount\":1}".getBytes(StandardCharsets.UTF_8)))
                .get(30, TimeUnit.SECONDS);
        Map<String, String> withSubject = headers("subject-1", "hostile.order.placed");
        withSubject.put(MessageHeaders.SUBJECT, "the-subject");
        transport.send(TransportMessage.of(STREAM, "key-of-subject-1", withSubject,
                "{\"orderId\":\"subject-1\",\"amount\":1}".getBytes(StandardCharsets.UTF_8)))
                .get(30, TimeUnit.SECONDS);
        await(() -> sink.has("no-subject-1") && sink.has("subject-1"), "both events");
        Envelope<HostileOrder> e = sink.got.stream().filter(x -> x.id().equals("no-subject-1")).findFirst()
                .orElseThrow();
        assertThat(e.subject()).as("the key is not a subject the event carried").isNull();
        assertThat(e.headers()).as("the key is not an extension either").doesNotContainKey(MessageHeaders.PARTITION_KEY);
        assertThat(sink.got.stream().filter(x -> x.id().equals("subject-1")).findFirst().orElseThrow().subject())
                .isEqualTo("the-subject");
    }
}
