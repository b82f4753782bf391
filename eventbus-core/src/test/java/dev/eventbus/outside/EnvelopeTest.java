package dev.eventbus.outside;

import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.PublishOptions;
import dev.eventbus.Subscribe;
import dev.eventbus.outside.Events.OrderPlaced;
import dev.eventbus.outside.Events.OrderShipped;
import dev.eventbus.outside.Events.Unannotated;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/** Envelope metadata: ids, CloudEvents attributes, correlation and causation. */
class EnvelopeTest {

    private static final Pattern UUID_V7 = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");

    static class Chain {
        final List<Envelope<?>> seen = new CopyOnWriteArrayList<>();
        private final EventBus bus;

        Chain(EventBus bus) {
            this.bus = bus;
        }

        @Subscribe
        void placed(OrderPlaced e, Envelope<OrderPlaced> env) {
            seen.add(env);
            bus.publish(new OrderShipped(e.orderId()));
        }

        @Subscribe
        void shipped(Envelope<OrderShipped> env) {
            seen.add(env);
        }
    }

    @Test
    void aHandlerThatPublishesPassesOnCorrelationAndCausation() {
        try (EventBus bus = EventBus.builder().service("billing").build()) {
            Chain c = new Chain(bus);
            bus.register(c);
            Instant before = Instant.now();
            bus.publish(new OrderPlaced("o-7", 100), PublishOptions.builder().header("tenant", "acme").build()).join();

            assertThat(c.seen).hasSize(2);
            Envelope<?> placed = c.seen.get(0);
            Envelope<?> shipped = c.seen.get(1);
            assertThat(placed.id()).matches(UUID_V7);
            assertThat(placed.type()).isEqualTo("order.placed");
            assertThat(placed.source()).isEqualTo("urn:eventbus:billing");
            assertThat(placed.subject()).isEqualTo("o-7");
            assertThat(placed.stream()).isEqualTo("orders");
            assertThat(placed.dataContentType()).isEqualTo("application/json");
            assertThat(placed.specVersion()).isEqualTo("1.0");
            assertThat(placed.attempt()).isEqualTo(1);
            assertThat(placed.headers()).containsEntry("tenant", "acme");
            assertThat(placed.time()).isBetween(before.minusMillis(1), Instant.now());
            assertThat(placed.correlationId()).isEqualTo(placed.id());
            assertThat(placed.causationId()).isNull();

            assertThat(shipped.id()).isNotEqualTo(placed.id());
            assertThat(shipped.correlationId()).isEqualTo(placed.id());
            assertThat(shipped.causationId()).isEqualTo(placed.id());
        }
    }

    @Test
    void idsAreTimeOrderedUuidV7() {
        try (EventBus bus = EventBus.builder().build()) {
            List<String> ids = new ArrayList<>();
            bus.subscribe(Unannotated.class, e -> { });
            bus.register(new Object() {
                @Subscribe
                void on(Envelope<Unannotated> e) {
                    ids.add(e.id());
                }
            });
            for (int i = 0; i < 2000; i++) {
                bus.publish(new Unannotated("x" + i)).join();
            }
            assertThat(ids).hasSize(2000).doesNotHaveDuplicates().isSorted().allMatch(id -> UUID_V7.matcher(id).matches());
        }
    }

    @Test
    void messageForShowsTheWireFormWithoutSending() {
        try (EventBus bus = EventBus.builder().service("shop").build()) {
            TransportMessage m = bus.messageFor(new OrderPlaced("o-9", 42),
                    PublishOptions.builder().header("tenant", "t1").delay(Duration.ofSeconds(5)).priority(3).build());
            assertThat(m.stream()).isEqualTo("orders");
            assertThat(m.key()).isEqualTo("o-9");
            assertThat(m.type()).isEqualTo("order.placed");
            assertThat(m.header(MessageHeaders.SOURCE)).isEqualTo("urn:eventbus:shop");
            assertThat(m.header(MessageHeaders.SPECVERSION)).isEqualTo("1.0");
            assertThat(m.header(MessageHeaders.SUBJECT)).isEqualTo("o-9");
            assertThat(m.header(MessageHeaders.DATACONTENTTYPE)).isEqualTo("application/json");
            assertThat(m.header(MessageHeaders.SCHEMA_VERSION)).isEqualTo("1");
            assertThat(m.header(MessageHeaders.CORRELATION_ID)).isEqualTo(m.id());
            assertThat(m.header("tenant")).isEqualTo("t1");
            assertThat(Instant.parse(m.header(MessageHeaders.TIME))).isNotNull();
            assertThat(new String(m.body())).isEqualTo("{\"orderId\":\"o-9\",\"cents\":42}");
            assertThat(m.deliverAt()).isAfter(Instant.now().plusSeconds(3));
            assertThat(m.priority()).isEqualTo(3);
            assertThat(bus.stats().published()).isZero();
        }
    }

    @Test
    void unannotatedTypesUseDocumentedDefaults() {
        try (EventBus bus = EventBus.builder().defaultStream("misc").build()) {
            TransportMessage m = bus.messageFor(new Unannotated("hi"), PublishOptions.none());
            assertThat(m.type()).isEqualTo(Unannotated.class.getName());
            assertThat(m.stream()).isEqualTo("misc");
            assertThat(m.key()).isNull();
            assertThat(m.header(MessageHeaders.SCHEMA_VERSION)).isEqualTo("1");
        }
    }
}
