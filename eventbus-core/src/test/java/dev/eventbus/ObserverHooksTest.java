package dev.eventbus;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The {@link EventBusObserver} hooks on the split core: {@link Publisher} reports publishes through the chain,
 * {@link LocalDispatch} and {@link FailureHandling} report subscriber outcomes, {@link FastPath} reports only its
 * failures (untimed).
 */
class ObserverHooksTest {

    record Placed(String id) {
    }

    /** What an observer saw, as "kind:transport:outcome:timed". */
    static final class Recorder implements EventBusObserver {
        final List<String> seen = new CopyOnWriteArrayList<>();

        @Override
        public void published(Envelope<?> envelope, String transport, long nanos, Throwable failure) {
            seen.add("published:" + transport + ":" + (failure == null ? "ok" : failure.getMessage()) + ":"
                    + (nanos >= 0));
        }

        @Override
        public void handled(Envelope<?> envelope, String transport, String group, String subscriberId,
                            Handling outcome, long nanos, Throwable failure) {
            seen.add("handled:" + transport + ":" + outcome + ":" + (nanos >= 0) + ":a" + envelope.attempt());
        }
    }

    @Test
    void aPublishThroughTheChainIsReportedWithItsTransportAndEachOutcome() {
        AtomicReference<String> chainTransport = new AtomicReference<>();
        Recorder r = new Recorder();
        try (EventBus bus = EventBus.builder().service("observe-chain")
                .publishInterceptor(chain -> {
                    chainTransport.set(chain.transport());
                    return chain.proceed(chain.envelope());
                })
                .retryPolicy(RetryPolicy.builder().maxAttempts(2).immediateRetries(1).build()).build()) {
            int[] calls = {0};
            bus.subscribe(Placed.class, e -> {
                if (calls[0]++ == 0) {
                    throw new IllegalStateException("first call fails");
                }
            });
            Registration reg = bus.observe(r);
            bus.publish(new Placed("p-1")).join();
            assertThat(chainTransport.get()).isEqualTo("memory");
            assertThat(r.seen).containsExactly(
                    "handled:memory:RETRY:true:a1",
                    "handled:memory:ACK:true:a2",
                    "published:memory:ok:true");
            reg.close();
            bus.publish(new Placed("p-2")).join();
            assertThat(r.seen).hasSize(3);
        }
    }

    @Test
    void theFastPathReportsOnlyItsFailuresUntimedAndStatsSayNothingIsQueued() {
        Recorder r = new Recorder();
        try (EventBus bus = EventBus.builder().service("observe-fast")
                .retryPolicy(RetryPolicy.builder().maxAttempts(1).build())
                .subscriberExceptionHandler((e, c) -> { }).build()) {
            bus.subscribe(Placed.class, e -> {
                if (e.id().startsWith("bad")) {
                    throw new IllegalArgumentException("bad event");
                }
            });
            bus.observe(r);
            bus.publish(new Placed("ok-1")).join();
            bus.publish(new Placed("bad-1")).join();
            assertThat(r.seen).containsExactly("handled:memory:DEAD:false:a1");
            EventBus.Stats s = bus.stats();
            assertThat(s.queued()).isZero();
            assertThat(s.delivered()).isEqualTo(1);
            assertThat(s.deadLettered()).isEqualTo(1);
        }
    }

    @Test
    void withOptionsEverySubscriberInvocationIsTimed() {
        Recorder r = new Recorder();
        try (EventBus bus = EventBus.builder().service("observe-options").build()) {
            bus.subscribe(Placed.class, e -> { });
            bus.subscribe(Placed.class, e -> { });
            bus.observe(r);
            bus.publish(new Placed("k-1"), PublishOptions.builder().key("k").build()).join();
            assertThat(r.seen).containsExactly("handled:memory:ACK:true:a1", "handled:memory:ACK:true:a1");
        }
    }
}
