package dev.eventbus.rabbitmq;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import dev.eventbus.DeadLetter;
import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.PublishOptions;
import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayNotSupportedException;
import dev.eventbus.RetryPolicy;
import dev.eventbus.Subscribe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The bus over the RabbitMQ transport, against the real server. */
class RabbitMqBusTest {

    @EventType(name = "rmq.order.placed", version = 1, stream = "rmq-orders")
    record OrderPlaced(String orderId, int quantity) {
    }

    @EventType(name = "rmq.order.shipped", version = 1, stream = "rmq-orders")
    record OrderShipped(String orderId) {
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

    private EventBus bus(String service, RetryPolicy retry) {
        EventBus.Builder b = EventBus.builder().service(service).transport(support.transport());
        if (retry != null) {
            b.retryPolicy(retry);
        }
        return b.build();
    }

    /** A replay is refused with what to use instead, before anything reaches the broker; the group goes on. */
    @Test
    void replayIsRefusedSayingQueuesKeepNoConsumedMessagesAndWhatToUseInstead() throws Exception {
        List<String> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = bus("replay-" + support.prefix(), null)) {
            bus.subscribe(OrderShipped.class, "shipping", e -> got.add(e.orderId()));
            bus.publish(new OrderShipped("o-1")).join();
            await(() -> got.size() == 1, "the first event");

            assertThatThrownBy(() -> bus.replay("shipping", ReplayFrom.time(Instant.now().minusSeconds(60))))
                    .isInstanceOf(ReplayNotSupportedException.class)
                    .hasMessageContaining("the rabbitmq transport cannot replay")
                    .hasMessageContaining("RabbitMQ queues delete a message once it is acknowledged")
                    .hasMessageContaining("bus.deadLetters().replay")
                    .hasMessageContaining("kafka or jdbc transport")
                    .satisfies(e -> assertThat(((ReplayNotSupportedException) e).isRetriable()).isFalse());

            bus.publish(new OrderShipped("o-2")).join();
            await(() -> got.size() == 2, "the next event");
            Thread.sleep(300);
            assertThat(got).as("nothing handled again").containsExactly("o-1", "o-2");
        }
    }

    @Test
    void selectedByConfigurationAloneItCarriesTypedEventsWithTheirEnvelope() throws Exception {
        Properties p = new Properties();
        p.setProperty("eventbus.service", "shop");
        p.setProperty("eventbus.transport", "rabbitmq");
        p.setProperty(RabbitMqConfig.URI, RabbitMqTestSupport.URI);
        p.setProperty(RabbitMqConfig.TOPOLOGY_PREFIX, support.prefix());
        List<Envelope<OrderPlaced>> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.fromConfig(p)) {
            bus.register(new Object() {
                @Subscribe(group = "billing")
                void on(OrderPlaced e, Envelope<OrderPlaced> env) {
                    got.add(env);
                }
            });
            bus.publish(new OrderPlaced("o-1", 2), PublishOptions.builder().key("o-1").header("tenant", "acme").build())
                    .get(20, TimeUnit.SECONDS);
            await(() -> got.size() == 1, "the event");
        }
        Envelope<OrderPlaced> e = got.get(0);
        assertThat(e.event()).isEqualTo(new OrderPlaced("o-1", 2));
        assertThat(e.type()).isEqualTo("rmq.order.placed");
        assertThat(e.subject()).isEqualTo("o-1");
        assertThat(e.id()).isNotBlank();
        assertThat(e.headers()).containsEntry("tenant", "acme");
        assertThat(e.attempt()).isEqualTo(1);
    }

    @Test
    void aMalformedOrHeaderlessMessageGoesToTheDeadLetterQueueWithTheReasonAndTheNextIsHandled() throws Exception {
        List<OrderPlaced> handled = new CopyOnWriteArrayList<>();
        try (EventBus bus = bus("malformed", null)) {
            bus.subscribe(OrderPlaced.class, "intake", handled::add);
            try (Connection c = RabbitMqTestSupport.rawFactory().newConnection()) {
                Channel ch = c.createChannel();
                AMQP.BasicProperties typed = new AMQP.BasicProperties.Builder().messageId("bad-1").type("rmq.order.placed")
                        .contentType("application/json").headers(Map.of("cloudEvents:specversion", "1.0",
                                "cloudEvents:source", "/legacy", "cloudEvents:partitionkey", "x")).build();
                ch.basicPublish(support.prefix() + "rmq-orders", "rmq.order.placed", typed,
                        "{not json".getBytes(StandardCharsets.UTF_8));
                AMQP.BasicProperties untyped = new AMQP.BasicProperties.Builder().messageId("bad-2")
                        .headers(Map.of("cloudEvents:partitionkey", "y")).build();
                ch.basicPublish(support.prefix() + "rmq-orders", "rmq.order.placed", untyped,
                        "{\"orderId\":\"o-2\",\"quantity\":1}".getBytes(StandardCharsets.UTF_8));
            }
            bus.publish(new OrderPlaced("o-3", 1)).get(20, TimeUnit.SECONDS);
            await(() -> handled.size() == 1, "the valid event after the bad ones");
            assertThat(handled).containsExactly(new OrderPlaced("o-3", 1));
            await(() -> bus.deadLetters().list("intake").size() == 2, "two dead letters");
            List<DeadLetter> dead = bus.deadLetters().list("intake");
            assertThat(dead).extracting(d -> d.message().id()).containsExactlyInAnyOrder("bad-1", "bad-2");
            assertThat(dead).allSatisfy(d -> assertThat(d.reason()).isNotBlank());
            assertThat(dead).allSatisfy(d -> assertThat(d.originalStream()).isEqualTo("rmq-orders"));
        }
    }

    @Test
    void retriesThroughWaitQueuesDeadLettersThenReplaysThroughTheApi() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        AtomicInteger fixedAfter = new AtomicInteger(Integer.MAX_VALUE);
        List<Integer> attempts = new CopyOnWriteArrayList<>();
        RetryPolicy retry = RetryPolicy.builder().maxAttempts(3).immediateRetries(0).initialDelay(Duration.ofMillis(200))
                .multiplier(2).jitter(0).build();
        try (EventBus bus = bus("retrying", retry)) {
            bus.register(new Object() {
                // One parameter: core's eventbus-pending header is comma-separated and a two-parameter
                // subscriber's id contains a comma (reported to the lead).
                @Subscribe(group = "mailer")
                void on(Envelope<OrderShipped> env) {
                    attempts.add(env.attempt());
                    if (calls.incrementAndGet() < fixedAfter.get()) {
                        throw new IllegalStateException("smtp down");
                    }
                }
            });
            bus.publish(new OrderShipped("o-9")).get(20, TimeUnit.SECONDS);
            await(() -> bus.deadLetters().list("mailer").size() == 1, "the dead letter");
            assertThat(calls.get()).isEqualTo(3);
            assertThat(attempts).containsExactly(1, 2, 3);
            DeadLetter d = bus.deadLetters().list("mailer").get(0);
            assertThat(d.exceptionClass()).isEqualTo("java.lang.IllegalStateException");
            assertThat(d.attempts()).isEqualTo(3);
            assertThat(d.type()).isEqualTo("rmq.order.shipped");

            fixedAfter.set(0);
            assertThat(bus.deadLetters().replayAll("mailer")).isEqualTo(1);
            await(() -> calls.get() == 4, "the replayed event");
            assertThat(bus.deadLetters().list("mailer")).isEmpty();
        }
    }

    @Test
    void aDelayedPublishArrivesNoEarlierThanAsked() throws Exception {
        List<Instant> arrived = new CopyOnWriteArrayList<>();
        try (EventBus bus = bus("delaying", null)) {
            bus.subscribe(OrderPlaced.class, "scheduler", e -> arrived.add(Instant.now()));
            Instant sent = Instant.now();
            bus.publish(new OrderPlaced("later", 1), PublishOptions.builder().delay(Duration.ofMillis(1500)).build())
                    .get(20, TimeUnit.SECONDS);
            await(() -> arrived.size() == 1, "the delayed event");
            assertThat(Duration.between(sent, arrived.get(0))).isGreaterThanOrEqualTo(Duration.ofMillis(1500));
        }
    }
}
