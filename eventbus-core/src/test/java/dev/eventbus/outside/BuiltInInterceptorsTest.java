package dev.eventbus.outside;

import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.Interceptors;
import dev.eventbus.Subscribe;
import dev.eventbus.outside.Events.OrderPlaced;
import dev.eventbus.outside.Events.OrderShipped;
import org.junit.jupiter.api.Test;
import org.slf4j.MDC;

import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

class BuiltInInterceptorsTest {

    static class Traced {
        final List<Envelope<?>> seen = new CopyOnWriteArrayList<>();
        final List<Map<String, String>> mdc = new CopyOnWriteArrayList<>();
        private final EventBus bus;

        Traced(EventBus bus) {
            this.bus = bus;
        }

        @Subscribe(group = "g")
        void placed(OrderPlaced e, Envelope<OrderPlaced> env) {
            seen.add(env);
            mdc.add(MDC.getCopyOfContextMap());
            bus.publish(new OrderShipped(e.orderId()));
        }

        @Subscribe(group = "g")
        void shipped(Envelope<OrderShipped> env) {
            seen.add(env);
        }
    }

    @Test
    void traceContextContinuesTheTraceOfTheHandledEventAndMdcNamesTheEvent() {
        try (EventBus bus = EventBus.builder().publishInterceptor(Interceptors.traceContext())
                .consumeInterceptor(Interceptors.mdc()).build()) {
            Traced t = new Traced(bus);
            bus.register(t);
            bus.publish(new OrderPlaced("o-1", 1)).join();

            String parent = t.seen.get(0).traceparent();
            String child = t.seen.get(1).traceparent();
            assertThat(parent).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-01");
            assertThat(child).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-01");
            assertThat(child.substring(3, 35)).as("same trace").isEqualTo(parent.substring(3, 35));
            assertThat(child.substring(36, 52)).as("new span").isNotEqualTo(parent.substring(36, 52));

            assertThat(t.mdc.get(0)).containsEntry(Interceptors.MDC_EVENT_ID, t.seen.get(0).id())
                    .containsEntry(Interceptors.MDC_EVENT_TYPE, "order.placed")
                    .containsEntry(Interceptors.MDC_GROUP, "g")
                    .containsEntry(Interceptors.MDC_CORRELATION_ID, t.seen.get(0).correlationId());
            assertThat(MDC.get(Interceptors.MDC_EVENT_ID)).as("restored after the subscriber").isNull();
        }
    }
}
