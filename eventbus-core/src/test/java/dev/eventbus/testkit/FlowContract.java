package dev.eventbus.testkit;

import dev.eventbus.Batch;
import dev.eventbus.DeadLetter;
import dev.eventbus.Envelope;
import dev.eventbus.Event;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.Filter;
import dev.eventbus.RetryPolicy;
import dev.eventbus.Subscribe;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The batch-subscriber and filter sections of {@link TransportContract}: a whole bus over the transport under test,
 * fed by a second transport instance sending raw messages (as another service would), so that the transport's
 * deferred outcomes ({@code handleAsync}) and filter push-down are exercised end to end.
 */
final class FlowContract {

    /** A test event; its key keeps per-key order. */
    @EventType(name = "contract.flow")
    public record FlowEvent(String key, int seq) implements Event {
        @Override
        public String eventKey() {
            return key;
        }
    }

    /** Sent after events of the same key: when it is handled, they have been handed to their batch subscriber. */
    @EventType(name = "contract.flow.marker")
    public record FlowMarker(String key) implements Event {
        @Override
        public String eventKey() {
            return key;
        }
    }

    private final Supplier<Transport> newTransport;
    private final Transport sender;
    private final String stream;
    private final String service;
    private final Duration timeout;
    private final List<EventBus> buses = new ArrayList<>();

    FlowContract(Supplier<Transport> newTransport, Transport sender, String stream, String service, Duration timeout) {
        this.newTransport = newTransport;
        this.sender = sender;
        this.stream = stream;
        this.service = service;
        this.timeout = timeout;
    }

    void closeAll() {
        for (EventBus b : buses) {
            b.close(Duration.ofSeconds(5));
        }
    }

    private EventBus bus(RetryPolicy retry) {
        EventBus.Builder b = EventBus.builder().service(service).transport(newTransport.get()).defaultStream(stream)
                .closeTimeout(Duration.ofSeconds(10));
        if (retry != null) {
            b.retryPolicy(retry);
        }
        EventBus bus = b.build();
        buses.add(bus);
        return bus;
    }

    private void send(String key, int seq, String region) {
        send(key, "contract.flow", ("{\"key\":\"" + key + "\",\"seq\":" + seq + "}").getBytes(StandardCharsets.UTF_8),
                region);
    }

    private void send(String key, String type, byte[] body, String region) {
        sendAsync(key, type, body, region).orTimeout(30, TimeUnit.SECONDS).join();
    }

    /** Sends without waiting: a transport keeps the order of one sender's messages of one key. */
    private java.util.concurrent.CompletableFuture<Void> sendAsync(String key, String type, byte[] body, String region) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, UUID.randomUUID().toString());
        h.put(MessageHeaders.SPECVERSION, MessageHeaders.SPEC_VERSION_1_0);
        h.put(MessageHeaders.SOURCE, "/contract");
        h.put(MessageHeaders.TYPE, type);
        h.put(MessageHeaders.DATACONTENTTYPE, "application/json");
        h.put(MessageHeaders.TIME, Instant.now().toString());
        h.put(MessageHeaders.SUBJECT, key);
        if (region != null) {
            h.put("region", region);
        }
        return sender.send(TransportMessage.of(stream, key, h, body));
    }

    private void marker(String key) {
        send(key, "contract.flow.marker", ("{\"key\":\"" + key + "\"}").getBytes(StandardCharsets.UTF_8), null);
    }

    private void await(String what, BooleanSupplier condition) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out after " + timeout + " waiting until " + what);
            }
            sleep(10);
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static List<Integer> seqs(List<FlowEvent> events) {
        return events.stream().map(FlowEvent::seq).toList();
    }

    // ------------------------------------------------------------------------------------------------ batches

    public static final class FullOrClose {
        final List<List<FlowEvent>> calls = new CopyOnWriteArrayList<>();
        final List<FlowMarker> markers = new CopyOnWriteArrayList<>();

        @Subscribe(batchSize = 5, batchWait = "1h", concurrency = 1)
        void on(List<FlowEvent> batch) {
            calls.add(List.copyOf(batch));
        }

        @Subscribe
        void on(FlowMarker m) {
            markers.add(m);
        }
    }

    /** Size triggers a call at once (the wait is an hour); close hands the partial batch over and acknowledges it. */
    void fullBatchGoesAtOnceAndClosingHandsOverThePartialOne() {
        EventBus bus = bus(null);
        FullOrClose sub = new FullOrClose();
        bus.register(sub);
        for (int i = 0; i < 5; i++) {
            send("k", i, null);
        }
        await("a full batch of 5 is handed over", () -> sub.calls.size() == 1);
        assertThat(seqs(sub.calls.get(0))).containsExactly(0, 1, 2, 3, 4);

        for (int i = 5; i < 8; i++) {
            send("k", i, null);
        }
        marker("k");
        await("the marker behind the partial batch is handled", () -> sub.markers.size() == 1);
        sleep(300);
        assertThat(sub.calls).as("a partial batch waits for its size or its wait").hasSize(1);

        bus.close(Duration.ofSeconds(10));
        assertThat(sub.calls).as("close hands the partial batch over").hasSize(2);
        assertThat(seqs(sub.calls.get(1))).containsExactly(5, 6, 7);

        // Handled and acknowledged: the group's next instance gets none of them again.
        EventBus next = bus(null);
        FullOrClose again = new FullOrClose();
        next.register(again);
        marker("end");
        await("the next instance handles a new marker", () -> again.markers.size() == 1);
        sleep(500);
        assertThat(again.calls).isEmpty();
    }

    public static final class WaitOnly {
        final List<List<FlowEvent>> calls = new CopyOnWriteArrayList<>();
        final List<Long> callNanos = new CopyOnWriteArrayList<>();

        @Subscribe(batchSize = 1000, batchWait = "400ms", concurrency = 1)
        void on(Batch<FlowEvent> batch) {
            callNanos.add(System.nanoTime());
            calls.add(List.copyOf(batch.events()));
            assertThat(batch.envelopes()).hasSize(batch.size());
        }
    }

    /** A batch that does not fill is handed over when its first event has waited the batch wait, not before. */
    void partialBatchWaitsForTheBatchWait() {
        EventBus bus = bus(null);
        WaitOnly sub = new WaitOnly();
        bus.register(sub);
        long firstSent = System.nanoTime();
        for (int i = 0; i < 3; i++) {
            send("k", i, null);
        }
        await("the partial batch is handed over", () -> sub.calls.stream().mapToInt(List::size).sum() == 3);
        // The first event arrives after it was sent, and waits 400 ms from its arrival.
        assertThat(TimeUnit.NANOSECONDS.toMillis(sub.callNanos.get(0) - firstSent)).isGreaterThanOrEqualTo(390);
        assertThat(sub.calls.stream().mapToInt(List::size).max().orElse(0)).isLessThanOrEqualTo(3);
    }

    public static final class Ordered {
        final List<FlowEvent> seen = new CopyOnWriteArrayList<>();
        final List<Integer> sizes = new CopyOnWriteArrayList<>();

        @Subscribe(batchSize = 20, batchWait = "50ms", concurrency = 4)
        void on(List<FlowEvent> batch) {
            sizes.add(batch.size());
            seen.addAll(batch);
        }
    }

    /** Events of one key reach batch subscribers in the order they were sent, across batches and lanes. */
    void batchesKeepPerKeyOrder() {
        EventBus bus = bus(null);
        Ordered sub = new Ordered();
        bus.register(sub);
        int keys = 8;
        int perKey = 25;
        List<java.util.concurrent.CompletableFuture<Void>> sent = new ArrayList<>();
        for (int i = 0; i < perKey; i++) {
            for (int k = 0; k < keys; k++) {
                String key = "key-" + k;
                sent.add(sendAsync(key, "contract.flow",
                        ("{\"key\":\"" + key + "\",\"seq\":" + i + "}").getBytes(StandardCharsets.UTF_8), null));
            }
        }
        sent.forEach(f -> f.orTimeout(30, TimeUnit.SECONDS).join());
        await("all " + keys * perKey + " events are handled", () -> sub.seen.size() >= keys * perKey);
        Map<String, List<Integer>> byKey = sub.seen.stream().collect(Collectors.groupingBy(FlowEvent::key,
                LinkedHashMap::new, Collectors.mapping(FlowEvent::seq, Collectors.toList())));
        assertThat(byKey).hasSize(keys);
        List<Integer> expected = IntStream.range(0, perKey).boxed().toList();
        byKey.forEach((k, seqs) -> assertThat(seqs).as("order of " + k).isEqualTo(expected));
        assertThat(sub.sizes).allSatisfy(n -> assertThat(n).isBetween(1, 20));
    }

    public static final class Poisoned {
        final List<FlowEvent> handled = new CopyOnWriteArrayList<>();
        final List<Integer> callSizes = new CopyOnWriteArrayList<>();

        @Subscribe(batchSize = 10, batchWait = "300ms", concurrency = 1)
        void on(List<FlowEvent> batch) {
            callSizes.add(batch.size());
            if (batch.stream().anyMatch(e -> e.seq() == 3)) {
                throw new IllegalStateException("poison 3");
            }
            handled.addAll(batch);
        }
    }

    /**
     * A batch that keeps failing is split until the poison event stands alone; the others are handled once, and the
     * poison alone is dead-lettered with the reason after its attempts.
     */
    void poisonEventIsIsolatedAndDeadLetteredAlone() {
        RetryPolicy retry = RetryPolicy.builder().maxAttempts(2).immediateRetries(0).initialDelay(Duration.ofMillis(50))
                .jitter(0).build();
        EventBus bus = bus(retry);
        Poisoned sub = new Poisoned();
        bus.register(sub);
        for (int i = 0; i < 10; i++) {
            send("k", i, null);
        }
        await("the nine good events are handled", () -> sub.handled.size() >= 9);
        await("the poison is dead-lettered", () -> bus.stats().deadLettered() >= 1);
        sleep(300);
        assertThat(seqs(sub.handled)).as("each good event handled once").containsExactlyInAnyOrder(0, 1, 2, 4, 5, 6, 7, 8, 9);
        assertThat(bus.stats().deadLettered()).isEqualTo(1);
        if (sender.capabilities().contains(Capability.DEAD_LETTER_STORE)) {
            List<DeadLetter> dead = bus.deadLetters().list(service);
            assertThat(dead).hasSize(1);
            assertThat(dead.get(0).reason()).contains("poison 3").contains("split out of its batch")
                    .contains("gave up after 2 attempts");
            assertThat(new String(dead.get(0).message().body(), StandardCharsets.UTF_8)).contains("\"seq\":3");
        }
        // The last call for the poison was a batch of one.
        assertThat(sub.callSizes).contains(1);
    }

    public static final class Blocking {
        final CountDownLatch release = new CountDownLatch(1);
        final CountDownLatch entered = new CountDownLatch(1);
        final List<List<FlowEvent>> calls = new CopyOnWriteArrayList<>();
        final List<FlowMarker> markers = new CopyOnWriteArrayList<>();

        @Subscribe(batchSize = 100, batchWait = "1h", concurrency = 1)
        void on(List<FlowEvent> batch) throws InterruptedException {
            calls.add(List.copyOf(batch));
            entered.countDown();
            release.await(60, TimeUnit.SECONDS);
        }

        @Subscribe
        void on(FlowMarker m) {
            markers.add(m);
        }
    }

    /** A partial batch whose call outlives close is not acknowledged: the group's next instance gets it again. */
    void closeThatCannotWaitForABatchLeavesItUnacknowledged() throws Exception {
        EventBus bus = bus(null);
        Blocking sub = new Blocking();
        bus.register(sub);
        for (int i = 0; i < 3; i++) {
            send("k", i, null);
        }
        marker("k");
        await("the marker behind the batch is handled", () -> sub.markers.size() == 1);
        assertThat(sub.calls).isEmpty();
        bus.close(Duration.ofSeconds(1));
        assertThat(sub.entered.await(5, TimeUnit.SECONDS)).as("close handed the partial batch over").isTrue();
        sub.release.countDown();

        EventBus next = bus(null);
        Quick again = new Quick();
        next.register(again);
        await("the next instance gets the unacknowledged events", () -> again.seen.size() >= 3);
        sleep(300);
        assertThat(seqs(again.seen)).containsExactlyInAnyOrder(0, 1, 2);
    }

    public static final class Quick {
        final List<FlowEvent> seen = new CopyOnWriteArrayList<>();

        @Subscribe(batchSize = 100, batchWait = "100ms")
        void on(List<FlowEvent> batch) {
            seen.addAll(batch);
        }
    }

    // ------------------------------------------------------------------------------------------------ filters

    public static final class EuOnly {
        final List<FlowEvent> seen = new CopyOnWriteArrayList<>();

        @Subscribe(filter = "region = eu")
        void on(FlowEvent e) {
            seen.add(e);
        }
    }

    /**
     * Filters read headers before the body: rejected events are acknowledged and counted, never dead-lettered, even
     * when their body could not be decoded.
     */
    void filtersAreAppliedBeforeDecodingAndCounted() {
        EventBus bus = bus(null);
        EuOnly eu = new EuOnly();
        bus.register(eu);
        List<FlowEvent> us = new CopyOnWriteArrayList<>();
        bus.subscribe(FlowEvent.class, service + "-us", Filter.header("region", "us"), us::add);

        String[] regions = {"eu", "us", "eu", null, "us", "eu"};
        for (int i = 0; i < regions.length; i++) {
            send("k" + i, i, regions[i]);
        }
        // Neither group wants "ap": the unreadable body is never decoded, so it is filtered, not dead-lettered.
        send("bad", "contract.flow", "not json at all".getBytes(StandardCharsets.UTF_8), "ap");
        await("eu and us events are handled", () -> eu.seen.size() == 3 && us.size() == 2);
        // eu group rejects us, us, none, ap (4); us group rejects eu x3, none, ap (5).
        await("the rejected events are counted", () -> bus.stats().filtered() >= 9);
        sleep(300);
        assertThat(seqs(eu.seen)).containsExactlyInAnyOrder(0, 2, 5);
        assertThat(us).extracting(FlowEvent::seq).containsExactlyInAnyOrder(1, 4);
        assertThat(bus.stats().filtered()).isEqualTo(9);
        assertThat(bus.stats().deadLettered()).isZero();
    }
}
