package dev.eventbus.outside;

import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.Subscribe;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class SmokeTest {
    static class Listener {
        final List<Object> got = new ArrayList<>();

        @Subscribe
        void on(Events.OrderPlaced e) {
            got.add(e);
        }

        @Subscribe
        void env(Envelope<Events.OrderPlaced> e) {
            got.add(e.type() + ":" + e.subject());
        }
    }

    @Test
    void smoke() {
        try (EventBus bus = EventBus.builder().service("smoke").build()) {
            Listener l = new Listener();
            bus.register(l);
            bus.publish(new Events.OrderPlaced("o-1", 10)).join();
            assertThat(l.got).containsExactly(new Events.OrderPlaced("o-1", 10), "order.placed:o-1");
        }
    }
}
