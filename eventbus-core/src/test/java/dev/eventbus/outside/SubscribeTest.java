package dev.eventbus.outside;

import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.Registration;
import dev.eventbus.Subscribe;
import dev.eventbus.outside.Events.InvoiceSent;
import dev.eventbus.outside.Events.OrderEvent;
import dev.eventbus.outside.Events.OrderPlaced;
import dev.eventbus.outside.Events.OrderShipped;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Registration, parameter shapes and dispatch to supertypes, through the public API only. */
class SubscribeTest {

    private final EventBus bus = EventBus.builder().service("subscribe-test").build();

    @AfterEach
    void close() {
        bus.close();
    }

    static class Shapes {
        final List<String> calls = new CopyOnWriteArrayList<>();

        @Subscribe
        void event(OrderPlaced e) {
            calls.add("event:" + e.orderId());
        }

        @Subscribe
        void envelope(Envelope<OrderPlaced> e) {
            calls.add("envelope:" + e.event().orderId() + ":" + e.type() + ":" + e.subject());
        }

        @Subscribe
        void both(OrderPlaced e, Envelope<OrderPlaced> env) {
            calls.add("both:" + e.orderId() + ":" + (env.event() == e));
        }

        @Subscribe
        private void privateOne(OrderShipped e) {
            calls.add("private:" + e.orderId());
        }
    }

    @Test
    void callsEveryParameterShapeIncludingPrivateMethods() {
        Shapes s = new Shapes();
        bus.register(s);
        bus.publish(new OrderPlaced("o-1", 5)).join();
        bus.publish(new OrderShipped("o-1")).join();
        assertThat(s.calls).containsExactlyInAnyOrder("event:o-1", "envelope:o-1:order.placed:o-1", "both:o-1:true",
                "private:o-1");
    }

    static class Supertypes {
        final List<String> calls = new CopyOnWriteArrayList<>();

        @Subscribe
        void anyOrder(OrderEvent e) {
            calls.add("order-event:" + e.orderId());
        }

        @Subscribe
        void anything(Object e) {
            calls.add("object:" + e.getClass().getSimpleName());
        }

        @Subscribe
        void orderEnvelopes(Envelope<? extends OrderEvent> e) {
            calls.add("envelope-of-order-event:" + e.type());
        }

        @Subscribe
        void rawEnvelope(@SuppressWarnings("rawtypes") Envelope e) {
            calls.add("raw-envelope:" + e.type());
        }
    }

    @Test
    void dispatchesToSupertypesInterfacesAndEnvelopeTypeArguments() {
        Supertypes s = new Supertypes();
        bus.register(s);
        bus.publish(new OrderShipped("o-2")).join();
        assertThat(s.calls).containsExactlyInAnyOrder("order-event:o-2", "object:OrderShipped",
                "envelope-of-order-event:order.shipped", "raw-envelope:order.shipped");
        s.calls.clear();
        bus.publish(new InvoiceSent("o-2", 10)).join();
        assertThat(s.calls).containsExactlyInAnyOrder("object:InvoiceSent", "raw-envelope:invoice.sent");
    }

    @Test
    void unregisterStopsDelivery() {
        List<String> got = new CopyOnWriteArrayList<>();
        Registration r = bus.subscribe(OrderPlaced.class, e -> got.add(e.orderId()));
        bus.publish(new OrderPlaced("a", 1)).join();
        r.unregister();
        r.unregister(); // idempotent
        bus.publish(new OrderPlaced("b", 1)).join();
        assertThat(got).containsExactly("a");
        assertThat(bus.stats().deadEvents()).isEqualTo(1);
    }

    @Test
    void deadEventsAreCountedAndHandedToTheHook() {
        List<Object> dead = new ArrayList<>();
        try (EventBus b = EventBus.builder().onDeadEvent(dead::add).build()) {
            b.publish(new OrderPlaced("nobody", 1)).join();
            assertThat(dead).containsExactly(new OrderPlaced("nobody", 1));
            assertThat(b.stats().deadEvents()).isEqualTo(1);
        }
    }

    static class NoParam {
        @Subscribe
        void on() {
        }
    }

    static class TwoEvents {
        @Subscribe
        void on(OrderPlaced a, OrderShipped b) {
        }
    }

    static class Primitive {
        @Subscribe
        void on(int x) {
        }
    }

    static class Returns {
        @Subscribe
        String on(OrderPlaced e) {
            return "x";
        }
    }

    static class EnvelopeFirst {
        @Subscribe
        void on(Envelope<OrderPlaced> env, OrderPlaced e) {
        }
    }

    static class MismatchedEnvelope {
        @Subscribe
        void on(OrderPlaced e, Envelope<OrderShipped> env) {
        }
    }

    static class StaticOne {
        @Subscribe
        static void on(OrderPlaced e) {
        }
    }

    static class NothingToSubscribe {
        void on(OrderPlaced e) {
        }
    }

    @Test
    void registrationMistakesFailAtOnceNamingClassAndMethod() {
        assertThatThrownBy(() -> bus.register(new NoParam()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("SubscribeTest$NoParam#on").hasMessageContaining("has no parameter");
        assertThatThrownBy(() -> bus.register(new TwoEvents()))
                .hasMessageContaining("TwoEvents#on").hasMessageContaining("the event first and its Envelope<E> second");
        assertThatThrownBy(() -> bus.register(new Primitive()))
                .hasMessageContaining("Primitive#on").hasMessageContaining("primitive int");
        assertThatThrownBy(() -> bus.register(new Returns()))
                .hasMessageContaining("Returns#on").hasMessageContaining("must return void");
        assertThatThrownBy(() -> bus.register(new EnvelopeFirst()))
                .hasMessageContaining("EnvelopeFirst#on");
        assertThatThrownBy(() -> bus.register(new MismatchedEnvelope()))
                .hasMessageContaining("MismatchedEnvelope#on").hasMessageContaining("type argument");
        assertThatThrownBy(() -> bus.register(new StaticOne()))
                .hasMessageContaining("StaticOne#on").hasMessageContaining("static");
        assertThatThrownBy(() -> bus.register(new NothingToSubscribe()))
                .hasMessageContaining("NothingToSubscribe has no @Subscribe methods");
    }

    @Test
    void publishingNullOrAfterCloseFailsClearly() {
        assertThatThrownBy(() -> bus.publish(null)).isInstanceOf(NullPointerException.class)
                .hasMessageContaining("null event");
        bus.close();
        assertThatThrownBy(() -> bus.publish(new OrderPlaced("late", 1)))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        assertThatThrownBy(() -> bus.register(new Shapes())).isInstanceOf(IllegalStateException.class);
    }

    static class Base {
        final List<String> calls = new CopyOnWriteArrayList<>();

        @Subscribe
        void on(OrderPlaced e) {
            calls.add("base");
        }
    }

    static class Derived extends Base {
        @Override
        @Subscribe
        void on(OrderPlaced e) {
            calls.add("derived");
        }

        @Subscribe
        void shipped(OrderShipped e) {
            calls.add("shipped");
        }
    }

    @Test
    void findsInheritedSubscribersOnceWhenOverridden() {
        Derived d = new Derived();
        bus.register(d);
        bus.publish(new OrderPlaced("x", 1)).join();
        bus.publish(new OrderShipped("x")).join();
        assertThat(d.calls).containsExactly("derived", "shipped");
    }
}
