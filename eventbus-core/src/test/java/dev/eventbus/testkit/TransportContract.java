package dev.eventbus.testkit;

import dev.eventbus.DeadLetter;
import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayNotSupportedException;
import dev.eventbus.ReplayResult;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInfo;
import org.junit.jupiter.api.BeforeEach;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The contract every {@link Transport} must pass, Watermill-style: extend it, implement {@link #newTransport()},
 * and the transport is checked for publish/consume, broadcast across groups, competition within a group,
 * per-key order, retry then dead letter (and replay), redelivery of unacknowledged messages, close while busy,
 * delayed delivery, batches, and moving a group back ({@link Transport#replay}, or its refusal). Tests of an ability the transport does not declare in
 * {@link Transport#capabilities()} are reported as skipped by assumption, never passed vacuously.
 *
 * <p>Each test gets fresh stream and group names ({@link #stream()}, {@link #group(String)}), so one broker can
 * serve a whole test class. Every transport created through {@link #transport()} is closed after the test.
 */
public abstract class TransportContract {

    private final List<Transport> opened = new ArrayList<>();
    private String testId;

    /**
     * A new transport instance connected to the same backend (broker, database, in-memory broker) as every other
     * instance this fixture returns during one test, so that two instances behave like two application instances.
     */
    protected abstract Transport newTransport();

    /** How long to wait for deliveries. Broker transports may need more. */
    protected Duration timeout() {
        return Duration.ofSeconds(30);
    }

    /**
     * Called after subscriptions are made and before messages are sent, for transports whose subscriptions become
     * effective asynchronously (a Kafka group rebalance). Default: nothing.
     */
    protected void awaitSubscriptionsReady(Transport transport, List<TransportSubscription> subscriptions) {
    }

    @BeforeEach
    void nameTest(TestInfo info) {
        testId = info.getTestMethod().map(m -> m.getName()).orElse("t") + "-"
                + UUID.randomUUID().toString().substring(0, 8);
    }

    @AfterEach
    void closeTransports() {
        for (Transport t : opened) {
            try {
                t.close(Duration.ofSeconds(5));
            } catch (RuntimeException e) {
                // keep closing the others
            }
        }
        opened.clear();
    }

    /** A transport that is closed after the test. */
    protected final Transport transport() {
        Transport t = newTransport();
        opened.add(t);
        return t;
    }

    /** A stream name unique to this test. */
    protected final String stream() {
        return "contract-" + testId;
    }

    /** A group name unique to this test. */
    protected final String group(String name) {
        return name + "-" + testId;
    }

    protected static TransportMessage message(String stream, String key, String body) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, UUID.randomUUID().toString());
        h.put(MessageHeaders.SPECVERSION, MessageHeaders.SPEC_VERSION_1_0);
        h.put(MessageHeaders.SOURCE, "/contract");
        h.put(MessageHeaders.TYPE, "contract.test");
        h.put(MessageHeaders.DATACONTENTTYPE, "text/plain");
        h.put(MessageHeaders.TIME, Instant.now().toString());
        if (key != null) {
            h.put(MessageHeaders.SUBJECT, key);
        }
        h.put("customheader", "custom-" + body);
        return TransportMessage.of(stream, key, h, body.getBytes(StandardCharsets.UTF_8));
    }

    protected static SubscriptionRequest request(String group, String stream, int concurrency) {
        return new SubscriptionRequest(group, stream, Set.of("contract.test"), concurrency, true);
    }

    private static void join(CompletableFuture<?> f) {
        try {
            f.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new AssertionError("send failed: " + e.getCause(), e.getCause());
        } catch (Exception e) {
            throw new AssertionError("send did not complete: " + e, e);
        }
    }

    private void subscribedAndReady(Transport t, TransportSubscription... subs) {
        awaitSubscriptionsReady(t, List.of(subs));
    }

    @Test
    void deliversEveryMessageWithKeyHeadersAndBody() {
        Transport t = transport();
        Recorder rec = new Recorder();
        String s = stream();
        subscribedAndReady(t, t.subscribe(request(group("g"), s, 1), rec));

        List<TransportMessage> sent = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            TransportMessage m = message(s, "k" + (i % 5), "m" + i);
            sent.add(m);
            join(t.send(m));
        }

        List<Recorder.Received> got = rec.awaitCount(50, timeout());
        assertThat(got).extracting(Recorder.Received::body)
                .containsExactlyInAnyOrderElementsOf(sent.stream().map(m -> new String(m.body(), StandardCharsets.UTF_8)).toList());
        for (Recorder.Received r : got) {
            TransportMessage m = r.delivery().message();
            TransportMessage original = sent.get(Integer.parseInt(r.body().substring(1)));
            assertThat(m.stream()).isEqualTo(s);
            assertThat(m.key()).isEqualTo(original.key());
            assertThat(m.id()).isEqualTo(original.id());
            assertThat(m.type()).isEqualTo("contract.test");
            assertThat(m.header("customheader")).isEqualTo("custom-" + r.body());
            assertThat(m.header(MessageHeaders.SOURCE)).isEqualTo("/contract");
            assertThat(r.delivery().attempt()).isEqualTo(1);
        }
        assertThat(rec.after(Duration.ofMillis(300))).hasSize(50);
    }

    @Test
    void everyGroupGetsEveryMessage() {
        Transport t = transport();
        String s = stream();
        Recorder a = new Recorder();
        Recorder b = new Recorder();
        subscribedAndReady(t, t.subscribe(request(group("a"), s, 2), a), t.subscribe(request(group("b"), s, 2), b));

        for (int i = 0; i < 30; i++) {
            join(t.send(message(s, "k" + (i % 3), "m" + i)));
        }
        assertThat(a.awaitCount(30, timeout())).extracting(Recorder.Received::body).doesNotHaveDuplicates();
        assertThat(b.awaitCount(30, timeout())).extracting(Recorder.Received::body).doesNotHaveDuplicates();
    }

    @Test
    void instancesOfOneGroupShareTheMessages() {
        Transport first = transport();
        assumeTrue(first.capabilities().contains(Capability.COMPETING_CONSUMERS), "no COMPETING_CONSUMERS");
        Transport second = transport();
        String s = stream();
        Recorder a = new Recorder();
        Recorder b = new Recorder();
        TransportSubscription sa = first.subscribe(request(group("g"), s, 2), a);
        TransportSubscription sb = second.subscribe(request(group("g"), s, 2), b);
        awaitSubscriptionsReady(first, List.of(sa));
        awaitSubscriptionsReady(second, List.of(sb));

        int n = 200;
        for (int i = 0; i < n; i++) {
            join(first.send(message(s, "key-" + (i % 40), "m" + i)));
        }
        long deadline = System.nanoTime() + timeout().toNanos();
        while (a.count() + b.count() < n && System.nanoTime() < deadline) {
            sleep(20);
        }
        List<String> all = new ArrayList<>(a.bodies());
        all.addAll(b.bodies());
        assertThat(new HashSet<>(all)).hasSize(n);
        assertThat(all).as("no message handled by both instances").doesNotHaveDuplicates();
        assertThat(a.count()).as("first instance got a share").isPositive();
        assertThat(b.count()).as("second instance got a share").isPositive();
    }

    @Test
    void keepsPerKeyOrderWithConcurrency() {
        Transport t = transport();
        assumeTrue(t.capabilities().contains(Capability.PER_KEY_ORDER), "no PER_KEY_ORDER");
        String s = stream();
        AtomicInteger concurrent = new AtomicInteger();
        AtomicInteger maxConcurrent = new AtomicInteger();
        Recorder rec = new Recorder(d -> {
            int now = concurrent.incrementAndGet();
            maxConcurrent.accumulateAndGet(now, Math::max);
            sleep(ThreadLocalRandom.current().nextInt(3));
            concurrent.decrementAndGet();
            return Outcome.ack();
        });
        subscribedAndReady(t, t.subscribe(request(group("g"), s, 4), rec));

        int keys = 8;
        int perKey = 40;
        List<CompletableFuture<Void>> futures = new ArrayList<>();
        for (int i = 0; i < perKey; i++) {
            for (int k = 0; k < keys; k++) {
                futures.add(t.send(message(s, "key-" + k, k + ":" + i)));
            }
        }
        futures.forEach(TransportContract::join);

        List<Recorder.Received> got = rec.awaitCount(keys * perKey, timeout());
        Map<String, List<Integer>> byKey = new HashMap<>();
        for (Recorder.Received r : got) {
            String[] parts = r.body().split(":");
            byKey.computeIfAbsent(parts[0], x -> new ArrayList<>()).add(Integer.parseInt(parts[1]));
        }
        assertThat(byKey).hasSize(keys);
        for (Map.Entry<String, List<Integer>> e : byKey.entrySet()) {
            assertThat(e.getValue()).as("order of key %s", e.getKey()).isSorted().doesNotHaveDuplicates();
        }
        assertThat(maxConcurrent.get()).as("handlers ran concurrently").isGreaterThan(1);
    }

    @Test
    void retriesAfterTheDelayThenDeadLettersAndReplays() {
        Transport t = transport();
        String s = stream();
        String g = group("g");
        AtomicInteger replayed = new AtomicInteger();
        Recorder rec = new Recorder(d -> {
            if ("replayed".equals(d.message().header("phase")) || d.message().header(MessageHeaders.DLQ_REASON) != null) {
                replayed.incrementAndGet();
                return Outcome.ack();
            }
            if (d.attempt() < 3) {
                return Outcome.retry(Duration.ofMillis(200), new IllegalStateException("boom " + d.attempt()),
                        Map.of(MessageHeaders.ATTEMPTS, Integer.toString(d.attempt())));
            }
            if (d.attempt() == 3) {
                return Outcome.dead("gave up after 3 attempts", new IllegalStateException("boom 3"),
                        Map.of(MessageHeaders.DLQ_EXCEPTION, "java.lang.IllegalStateException",
                                MessageHeaders.DLQ_MESSAGE, "boom 3", MessageHeaders.ATTEMPTS, "3"));
            }
            return Outcome.ack();
        });
        subscribedAndReady(t, t.subscribe(request(g, s, 1), rec));
        TransportMessage poison = message(s, "k", "poison");
        join(t.send(poison));

        List<Recorder.Received> got = rec.awaitCount(3, timeout());
        assertThat(got).extracting(r -> r.delivery().attempt()).containsExactly(1, 2, 3);
        assertThat(got).allSatisfy(r -> assertThat(r.delivery().message().id()).isEqualTo(poison.id()));
        assertThat(got.get(1).delivery().message().header(MessageHeaders.ATTEMPTS)).isEqualTo("1");
        assertThat(got.get(2).delivery().message().header(MessageHeaders.ATTEMPTS)).isEqualTo("2");
        for (int i = 1; i < 3; i++) {
            long gapMs = (got.get(i).nanoTime() - got.get(i - 1).nanoTime()) / 1_000_000;
            assertThat(gapMs).as("retry %d waited its delay", i).isGreaterThanOrEqualTo(190);
        }

        if (!t.capabilities().contains(Capability.DEAD_LETTER_STORE)) {
            assertThatThrownBy(t::deadLetters).isInstanceOf(UnsupportedOperationException.class);
            return;
        }
        List<DeadLetter> dead = awaitDeadLetters(t, g, 1);
        DeadLetter d = dead.get(0);
        assertThat(d.group()).isEqualTo(g);
        assertThat(d.originalStream()).isEqualTo(s);
        assertThat(d.message().id()).isEqualTo(poison.id());
        assertThat(d.message().body()).isEqualTo(poison.body());
        assertThat(d.reason()).contains("gave up after 3 attempts");
        assertThat(d.exceptionClass()).isEqualTo("java.lang.IllegalStateException");
        assertThat(d.attempts()).isEqualTo(3);
        assertThat(d.deadAt()).isNotNull();

        assertThat(t.deadLetters().replay(d)).isTrue();
        List<Recorder.Received> afterReplay = rec.awaitCount(4, timeout());
        assertThat(afterReplay.get(3).delivery().message().id()).isEqualTo(poison.id());
        assertThat(afterReplay.get(3).delivery().message().header(MessageHeaders.DLQ_REASON))
                .as("replayed message is clean of dead-letter headers").isNull();
        assertThat(awaitDeadLetters(t, g, 0)).isEmpty();
        assertThat(t.deadLetters().replay(d)).as("a dead letter replays once").isFalse();
    }

    private List<DeadLetter> awaitDeadLetters(Transport t, String g, int expected) {
        long deadline = System.nanoTime() + timeout().toNanos();
        List<DeadLetter> dead = t.deadLetters().list(g, 100);
        while (dead.size() != expected && System.nanoTime() < deadline) {
            sleep(50);
            dead = t.deadLetters().list(g, 100);
        }
        assertThat(dead).hasSize(expected);
        return dead;
    }

    @Test
    void aMessageWaitingForRetryDoesNotHoldUpOthers() {
        Transport t = transport();
        String s = stream();
        Recorder rec = new Recorder(d -> {
            if (new String(d.message().body(), StandardCharsets.UTF_8).equals("slow") && d.attempt() == 1) {
                return Outcome.retry(Duration.ofSeconds(2), null, Map.of());
            }
            return Outcome.ack();
        });
        subscribedAndReady(t, t.subscribe(request(group("g"), s, 1), rec));
        join(t.send(message(s, "a", "slow")));
        join(t.send(message(s, "b", "fast")));
        List<Recorder.Received> got = rec.awaitCount(3, timeout());
        assertThat(got).extracting(Recorder.Received::body).containsExactly("slow", "fast", "slow");
        long fastAfterMs = (got.get(1).nanoTime() - got.get(0).nanoTime()) / 1_000_000;
        assertThat(fastAfterMs).as("the other message went ahead during the retry wait").isLessThan(1500);
    }

    @Test
    void redeliversWhenTheHandlerThrows() {
        Transport t = transport();
        String s = stream();
        Recorder rec = new Recorder(d -> {
            if (d.attempt() == 1) {
                throw new IllegalStateException("handler crashed");
            }
            return Outcome.ack();
        });
        subscribedAndReady(t, t.subscribe(request(group("g"), s, 1), rec));
        join(t.send(message(s, "k", "crash")));
        List<Recorder.Received> got = rec.awaitCount(2, timeout());
        assertThat(got).extracting(Recorder.Received::body).containsExactly("crash", "crash");
        assertThat(got.get(1).delivery().attempt()).isGreaterThanOrEqualTo(2);
    }

    @Test
    void redeliversWhatAClosedSubscriptionNeverAcknowledged() throws Exception {
        Transport first = transport();
        assumeTrue(first.capabilities().contains(Capability.REDELIVERY_AFTER_CRASH), "no REDELIVERY_AFTER_CRASH");
        String s = stream();
        String g = group("g");
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        Recorder stuck = new Recorder(d -> {
            started.countDown();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return Outcome.ack();
        });
        TransportSubscription sub = first.subscribe(request(g, s, 1), stuck);
        subscribedAndReady(first, sub);
        TransportMessage m = message(s, "k", "unacked");
        join(first.send(m));
        assertThat(started.await(timeout().toSeconds(), TimeUnit.SECONDS)).isTrue();

        sub.close(Duration.ofMillis(300)); // gives up on the stuck handler: the message was never acknowledged
        release.countDown();

        Transport second = transport();
        Recorder rec = new Recorder();
        subscribedAndReady(second, second.subscribe(request(g, s, 1), rec));
        List<Recorder.Received> got = rec.awaitCount(1, timeout());
        assertThat(got.get(0).delivery().message().id()).isEqualTo(m.id());
    }

    @Test
    void closeWaitsForHandlersInFlightAndSettlesThem() throws Exception {
        Transport first = transport();
        String s = stream();
        String g = group("g");
        CountDownLatch started = new CountDownLatch(1);
        AtomicInteger finished = new AtomicInteger();
        Recorder slow = new Recorder(d -> {
            started.countDown();
            sleep(500);
            finished.incrementAndGet();
            return Outcome.ack();
        });
        TransportSubscription sub = first.subscribe(request(g, s, 1), slow);
        subscribedAndReady(first, sub);
        join(first.send(message(s, "k", "busy")));
        assertThat(started.await(timeout().toSeconds(), TimeUnit.SECONDS)).isTrue();

        sub.close(Duration.ofSeconds(10));
        assertThat(finished.get()).as("close waited for the handler").isEqualTo(1);

        if (first.capabilities().contains(Capability.REDELIVERY_AFTER_CRASH)) {
            // It was acknowledged on close, so a new subscription of the group must not see it again.
            Transport second = transport();
            Recorder rec = new Recorder();
            TransportSubscription again = second.subscribe(request(g, s, 1), rec);
            subscribedAndReady(second, again);
            join(second.send(message(s, "k", "after")));
            List<Recorder.Received> got = rec.awaitCount(1, timeout());
            assertThat(rec.after(Duration.ofMillis(500))).extracting(Recorder.Received::body).containsExactly("after");
            assertThat(got.get(0).body()).isEqualTo("after");
        }
    }

    @Test
    void delayedDeliveryArrivesNoEarlierThanAsked() {
        Transport t = transport();
        String s = stream();
        Instant at = Instant.now().plusMillis(1500);
        TransportMessage m = message(s, "k", "later").withDeliverAt(at);
        if (!t.capabilities().contains(Capability.DELAYED_DELIVERY)) {
            assertThatThrownBy(() -> t.send(m).get(30, TimeUnit.SECONDS))
                    .as("a transport without DELAYED_DELIVERY refuses a delayed message instead of sending it early")
                    .hasMessageContaining("delay");
            return;
        }
        Recorder rec = new Recorder();
        subscribedAndReady(t, t.subscribe(request(group("g"), s, 1), rec));
        join(t.send(m));
        join(t.send(message(s, "other", "now")));
        List<Recorder.Received> got = rec.awaitCount(2, timeout());
        assertThat(got.get(0).body()).isEqualTo("now");
        assertThat(got.get(1).epochMillis()).isGreaterThanOrEqualTo(at.toEpochMilli());
    }

    @Test
    void sendsABatch() {
        Transport t = transport();
        String s = stream();
        Recorder rec = new Recorder();
        subscribedAndReady(t, t.subscribe(request(group("g"), s, 1), rec));
        List<TransportMessage> batch = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            batch.add(message(s, "k", "b" + i));
        }
        join(t.sendBatch(batch));
        List<Recorder.Received> got = rec.awaitCount(20, timeout());
        if (t.capabilities().contains(Capability.PER_KEY_ORDER)) {
            assertThat(got).extracting(Recorder.Received::body)
                    .containsExactlyElementsOf(batch.stream().map(m -> new String(m.body(), StandardCharsets.UTF_8)).toList());
        } else {
            assertThat(got).hasSize(20);
        }
    }

    /**
     * With {@link Capability#REPLAY}, a group moved back to the beginning handles every message again, in order per
     * key, exactly once more; without it, {@link Transport#replay} refuses with a {@link ReplayNotSupportedException}
     * naming the transport and nothing is delivered again.
     */
    @Test
    void replayFromTheBeginningHandlesEveryMessageAgainOrIsRefused() {
        Transport t = transport();
        String s = stream();
        String g = group("g");
        Recorder rec = new Recorder();
        subscribedAndReady(t, t.subscribe(request(g, s, 2), rec));
        List<String> sent = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            join(t.send(message(s, "k" + (i % 3), "m" + i)));
            sent.add("m" + i);
        }
        List<Recorder.Received> first = rec.awaitCount(12, timeout());
        if (!t.capabilities().contains(Capability.REPLAY)) {
            assertThatThrownBy(() -> t.replay(g, s, ReplayFrom.beginning()))
                    .isInstanceOf(ReplayNotSupportedException.class)
                    .hasMessageContaining("the " + t.name() + " transport cannot replay");
            assertThat(rec.after(Duration.ofMillis(300))).hasSize(12);
            return;
        }
        ReplayResult result = t.replay(g, s, ReplayFrom.beginning());
        assertThat(result.moves()).isNotEmpty().allSatisfy(m -> {
            assertThat(m.transport()).isEqualTo(t.name());
            assertThat(m.stream()).isEqualTo(s);
        });
        List<Recorder.Received> all = rec.awaitCount(24, timeout());
        assertThat(rec.after(Duration.ofMillis(500))).as("each message exactly once more").hasSize(24);
        List<Recorder.Received> again = all.subList(12, 24);
        assertThat(again).extracting(Recorder.Received::body).containsExactlyInAnyOrderElementsOf(sent);
        for (String key : List.of("k0", "k1", "k2")) {
            assertThat(again.stream().filter(r -> key.equals(r.key())).map(Recorder.Received::body).toList())
                    .as("order of key %s", key)
                    .containsExactlyElementsOf(first.stream().filter(r -> key.equals(r.key()))
                            .map(Recorder.Received::body).toList());
        }
    }

    /**
     * A replay while the group is busy: the handler running at that moment finishes, the messages queued behind it
     * are not handled from the old position, and the group starts over from the new one. So what the handler sees is
     * a contiguous prefix of the first pass followed by the whole stream once, never an old message in between.
     */
    @Test
    void replayWhileBusyStartsOverWithoutHandlingTheQueuedMessagesOfTheOldPosition() {
        Transport t = transport();
        String s = stream();
        String g = group("g");
        CountDownLatch replayed = new CountDownLatch(1);
        AtomicInteger calls = new AtomicInteger();
        Recorder rec = new Recorder(d -> {
            if (calls.incrementAndGet() == 3) {
                try { // busy at the moment of the replay: the third message's handler runs until it has happened
                    replayed.await(timeout().toMillis(), TimeUnit.MILLISECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            sleep(20);
            return Outcome.ack();
        });
        subscribedAndReady(t, t.subscribe(request(g, s, 1), rec));
        if (!t.capabilities().contains(Capability.REPLAY)) {
            assertThatThrownBy(() -> t.replay(g, s, ReplayFrom.beginning()))
                    .isInstanceOf(ReplayNotSupportedException.class);
            return;
        }
        List<String> sent = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            join(t.send(message(s, "one-key", "m" + i)));
            sent.add("m" + i);
        }
        rec.awaitCount(3, timeout());
        t.replay(g, s, ReplayFrom.beginning());
        replayed.countDown();
        List<String> seen = rec.bodies();
        int restart = seen.subList(1, seen.size()).indexOf("m0") + 1;
        long deadline = System.nanoTime() + timeout().toNanos();
        while (restart == 0 || seen.size() < restart + 20) {
            assertThat(System.nanoTime()).as("the replay arrives: %s", seen).isLessThan(deadline);
            sleep(50);
            seen = rec.bodies();
            restart = seen.subList(1, seen.size()).indexOf("m0") + 1;
        }
        assertThat(restart).as("messages of the first pass handled before the restart: %s", seen).isLessThan(20);
        assertThat(seen.subList(0, restart)).containsExactlyElementsOf(sent.subList(0, restart));
        assertThat(rec.after(Duration.ofMillis(500))).as("then the whole stream once: %s", seen).hasSize(restart + 20);
        assertThat(rec.bodies().subList(restart, restart + 20)).containsExactlyElementsOf(sent);
    }

    @Test
    void refusesToSendAfterClose() {
        Transport t = transport();
        t.close(Duration.ofSeconds(5));
        TransportMessage m = message(stream(), "k", "late");
        assertThatThrownBy(() -> t.send(m).get(10, TimeUnit.SECONDS)).hasMessageContaining("closed");
    }

    protected static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------------------------------------------ batches, filters

    private FlowContract flow;

    /** A whole bus over a new instance of this transport, fed by {@code sender}: see {@link FlowContract}. */
    private FlowContract flow() {
        flow = new FlowContract(this::newTransport, transport(), stream(), group("svc"), timeout());
        return flow;
    }

    @AfterEach
    void closeFlowBuses() {
        if (flow != null) {
            flow.closeAll();
            flow = null;
        }
    }

    @Test
    void batchSubscriberGetsAFullBatchAtOnceAndThePartialOneOnClose() {
        flow().fullBatchGoesAtOnceAndClosingHandsOverThePartialOne();
    }

    @Test
    void batchSubscriberGetsAPartialBatchAfterTheBatchWait() {
        flow().partialBatchWaitsForTheBatchWait();
    }

    @Test
    void batchSubscriberKeepsPerKeyOrder() {
        flow().batchesKeepPerKeyOrder();
    }

    @Test
    void batchSubscriberIsolatesAPoisonEventAndDeadLettersItAlone() {
        flow().poisonEventIsIsolatedAndDeadLetteredAlone();
    }

    @Test
    void batchStillRunningWhenCloseGivesUpIsRedelivered() throws Exception {
        assumeTrue(transport().capabilities().contains(Capability.REDELIVERY_AFTER_CRASH), "no REDELIVERY_AFTER_CRASH");
        flow().closeThatCannotWaitForABatchLeavesItUnacknowledged();
    }

    @Test
    void filtersReadHeadersBeforeTheBodyAndCountWhatTheyReject() {
        flow().filtersAreAppliedBeforeDecodingAndCounted();
    }
}
