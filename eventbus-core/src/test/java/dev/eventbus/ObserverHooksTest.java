package dev.eventbus;

import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
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

    /** A broker-like transport: each send completes when the test says so, as an acknowledgement would. */
    static final class LaterTransport implements Transport {
        final List<CompletableFuture<Void>> sends = new CopyOnWriteArrayList<>();

        @Override
        public String name() {
            return "later";
        }

        @Override
        public Set<Capability> capabilities() {
            return Set.of();
        }

        @Override
        public CompletableFuture<Void> send(TransportMessage message) {
            CompletableFuture<Void> f = new CompletableFuture<>();
            sends.add(f);
            return f;
        }

        @Override
        public TransportSubscription subscribe(SubscriptionRequest request, MessageHandler handler) {
            return timeout -> { };
        }

        @Override
        public void close(Duration timeout) {
        }
    }

    @Test
    void sendListenersRunInTheBusCompletionStageBeforeThePublishCompletesWithOrWithoutObservers() {
        for (boolean observed : new boolean[] {true, false}) {
            LaterTransport transport = new LaterTransport();
            List<String> seen = new CopyOnWriteArrayList<>();
            Recorder r = new Recorder();
            try (EventBus bus = EventBus.builder().service("observe-listeners").transport(transport)
                    .publishInterceptor(chain -> {
                        CompletableFuture<Void> sent = chain.proceed(chain.envelope());
                        chain.whenSent(failure -> seen.add("outer:" + (failure == null ? "ok" : failure.getMessage())));
                        return sent;
                    })
                    .publishInterceptor(chain -> {
                        CompletableFuture<Void> sent = chain.proceed(chain.envelope());
                        chain.whenSent(failure -> {
                            seen.add("inner:" + (failure == null ? "ok" : failure.getMessage()));
                            throw new IllegalStateException("a faulty listener is logged and ignored");
                        });
                        return sent;
                    }).build()) {
                if (observed) {
                    bus.observe(r);
                }
                CompletableFuture<Void> ok = bus.publish(new Placed("l-1"));
                CompletableFuture<Void> bad = bus.publish(new Placed("l-2"));
                // Each publish's completion sees every listener already run, in the order they were added: the inner
                // interceptor's first, since each adds its listener after its proceed() returned.
                List<String> atOk = new CopyOnWriteArrayList<>();
                ok.whenComplete((v, t) -> atOk.addAll(seen));
                assertThat(seen).isEmpty();
                transport.sends.get(0).complete(null);
                assertThat(ok).isCompleted();
                assertThat(atOk).containsExactly("inner:ok", "outer:ok");
                transport.sends.get(1).completeExceptionally(new CompletionException(
                        new IllegalArgumentException("refused")));
                assertThat(bad).isCompletedExceptionally();
                assertThat(seen).containsExactly("inner:ok", "outer:ok", "inner:refused", "outer:refused");
                assertThat(r.seen).containsExactly(observed
                        ? new String[] {"published:later:ok:true", "published:later:refused:true"} : new String[0]);
            }
        }
    }

    @Test
    void aChainTheBusDidNotMakeRefusesSendListeners() {
        PublishInterceptor.Chain foreign = new PublishInterceptor.Chain() {
            @Override
            public Envelope<?> envelope() {
                return null;
            }

            @Override
            public CompletableFuture<Void> proceed(Envelope<?> envelope) {
                return CompletableFuture.completedFuture(null);
            }
        };
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> foreign.whenSent(failure -> { }))
                .isInstanceOf(UnsupportedOperationException.class);
    }
}
