package dev.eventbus.outside;

import dev.eventbus.ConsumeInterceptor;
import dev.eventbus.EventBus;
import dev.eventbus.PublishInterceptor;
import dev.eventbus.Envelope;
import dev.eventbus.Subscribe;
import dev.eventbus.outside.Events.OrderPlaced;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** OkHttp-style chains around publish and consume. */
class InterceptorTest {

    static class Recorder {
        final List<String> log;

        Recorder(List<String> log) {
            this.log = log;
        }

        @Subscribe
        void on(OrderPlaced e, Envelope<OrderPlaced> env) {
            log.add("subscriber sees trace=" + env.traceparent() + " tenant=" + env.headers().get("tenant"));
        }
    }

    @Test
    void chainsRunInOrderAndTheBusIsTheLastLink() {
        List<String> log = new CopyOnWriteArrayList<>();
        PublishInterceptor first = chain -> {
            log.add("publish 1");
            return chain.proceed(chain.envelope().withHeader("tenant", "acme"));
        };
        PublishInterceptor second = chain -> {
            log.add("publish 2 sees tenant=" + chain.envelope().headers().get("tenant"));
            return chain.proceed(chain.envelope().withTraceparent("00-abc-def-01")).whenComplete((v, e) -> log.add("sent"));
        };
        ConsumeInterceptor outer = chain -> {
            log.add("consume outer " + chain.group() + " " + chain.subscriberId().replaceAll(".*\\$", ""));
            chain.proceed();
            log.add("consume outer done");
        };
        ConsumeInterceptor inner = chain -> {
            log.add("consume inner");
            chain.proceed();
        };
        try (EventBus bus = EventBus.builder().service("svc").publishInterceptor(first).publishInterceptor(second)
                .consumeInterceptor(outer).consumeInterceptor(inner).build()) {
            bus.register(new Recorder(log));
            bus.publish(new OrderPlaced("o", 1)).join();
        }
        assertThat(log).containsExactly("publish 1", "publish 2 sees tenant=acme", "consume outer svc Recorder#on(OrderPlaced,Envelope)",
                "consume inner", "subscriber sees trace=00-abc-def-01 tenant=acme", "consume outer done", "sent");
    }

    @Test
    void aConsumeInterceptorThatDoesNotProceedSkipsTheSubscriber() {
        List<String> log = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.builder().consumeInterceptor(chain -> log.add("skipped " + chain.envelope().subject())).build()) {
            bus.register(new Recorder(log));
            bus.publish(new OrderPlaced("o-1", 1)).join();
            assertThat(log).containsExactly("skipped o-1");
            assertThat(bus.stats().failures()).isZero();
        }
    }

    @Test
    void proceedingTwiceFailsClearly() {
        List<Throwable> publishErrors = new CopyOnWriteArrayList<>();
        PublishInterceptor twice = chain -> {
            chain.proceed(chain.envelope());
            return chain.proceed(chain.envelope());
        };
        try (EventBus bus = EventBus.builder().publishInterceptor(twice).build()) {
            bus.subscribe(OrderPlaced.class, e -> { });
            assertThatThrownBy(() -> bus.publish(new OrderPlaced("o", 1)).join())
                    .hasMessageContaining("called proceed() twice");
        }
        ConsumeInterceptor twiceConsume = chain -> {
            chain.proceed();
            chain.proceed();
        };
        try (EventBus bus = EventBus.builder().consumeInterceptor(twiceConsume)
                .subscriberExceptionHandler((e, c) -> publishErrors.add(e))
                .retryPolicy(dev.eventbus.RetryPolicy.noRetries()).build()) {
            bus.subscribe(OrderPlaced.class, e -> { });
            bus.publish(new OrderPlaced("o", 1)).join();
            assertThat(publishErrors).singleElement().satisfies(e ->
                    assertThat(e).isInstanceOf(IllegalStateException.class).hasMessageContaining("proceed() twice"));
        }
    }

    @Test
    void aPublishInterceptorReturningNullFailsClearly() {
        try (EventBus bus = EventBus.builder().publishInterceptor(chain -> null).build()) {
            assertThatThrownBy(() -> bus.publish(new OrderPlaced("o", 1)).join()).hasMessageContaining("returned null");
        }
    }
}
