package dev.eventbus.rabbitmq;

import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.Subscribe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A type filter is pushed down to the broker: the group's queues are bound only to the routing keys (event types)
 * the filter lets through, so RabbitMQ never delivers the others to this group.
 */
class RabbitMqFilterPushdownTest {

    interface Parcel {
    }

    @EventType(name = "rmq.parcel.sent", stream = "rmq-parcels")
    record Sent(String id) implements Parcel {
    }

    @EventType(name = "rmq.parcel.lost", stream = "rmq-parcels")
    record Lost(String id) implements Parcel {
    }

    static final class Claims {
        final List<Parcel> seen = new CopyOnWriteArrayList<>();

        @Subscribe(group = "claims", filter = "type = rmq.parcel.lost")
        void on(Parcel p) {
            seen.add(p);
        }
    }

    /** Another group that takes every parcel, so that the Sent events are routed somewhere. */
    static final class Shipping {
        final List<Parcel> seen = new CopyOnWriteArrayList<>();

        @Subscribe(group = "shipping")
        void on(Parcel p) {
            seen.add(p);
        }
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

    @Test
    void typesTheFilterRejectsAreNeverRoutedToTheGroup() throws Exception {
        Claims claims = new Claims();
        try (EventBus bus = EventBus.builder().service("parcels").transport(support.transport())
                .eventType(Sent.class).eventType(Lost.class).build()) {
            Shipping shipping = new Shipping();
            bus.register(claims);
            bus.register(shipping);
            for (int i = 0; i < 20; i++) {
                bus.publish(new Sent("p-" + i)).get(30, TimeUnit.SECONDS);
            }
            bus.publish(new Lost("p-20")).get(30, TimeUnit.SECONDS);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while ((claims.seen.isEmpty() || shipping.seen.size() < 21) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            Thread.sleep(500);
            assertThat(shipping.seen).hasSize(21);
            assertThat(claims.seen).containsExactly(new Lost("p-20"));
            // Had the broker delivered the 20 Sent events to the claims group, the bus would have counted them
            // filtered (or skipped): the group's bindings left them out.
            assertThat(bus.stats().filtered()).isZero();
            assertThat(bus.stats().skipped()).isZero();
        }
    }
}
