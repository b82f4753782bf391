package dev.eventbus.kafka;

import dev.eventbus.EventBus;
import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayResult;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportSubscription;
import dev.eventbus.testkit.Recorder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Replay on the real broker: offsets by time, seeks in running consumers, a group with no members, refusals. */
class KafkaReplayTest {

    private static final Duration WAIT = Duration.ofSeconds(30);
    private final List<KafkaTransport> opened = new ArrayList<>();

    @AfterEach
    void closeAll() {
        Collections.reverse(opened);
        for (KafkaTransport t : opened) {
            t.close(Duration.ofSeconds(5));
        }
    }

    private KafkaTransport transport() {
        KafkaTransport t = KafkaTestSupport.transport("replay-test");
        opened.add(t);
        return t;
    }

    private static SubscriptionRequest request(String group, String stream) {
        return new SubscriptionRequest(group, stream, Set.of("t"), 2, true);
    }

    /** One worker: records are handled in offset order per partition (with more, in order per key). */
    private static SubscriptionRequest serial(String group, String stream) {
        return new SubscriptionRequest(group, stream, Set.of("t"), 1, true);
    }

    /** "topic-2@17" -> [2, 17]. */
    private static long[] origin(Recorder.Received r) {
        String o = r.delivery().origin();
        int at = o.lastIndexOf('@');
        int dash = o.lastIndexOf('-', at);
        return new long[] {Long.parseLong(o.substring(dash + 1, at)), Long.parseLong(o.substring(at + 1))};
    }

    /** Publishes {@code n} records with keys k0..k5, one by one, and returns their bodies. */
    private static List<String> publish(KafkaTransport t, String s, String prefix, int n) {
        List<String> bodies = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            t.send(KafkaTransportTest.message(s, "k" + (i % 6), "t", prefix + i)).join();
            bodies.add(prefix + i);
        }
        return bodies;
    }

    @Test
    void replayFromATimeReHandlesExactlyTheRecordsFromThenOnInOrderPerPartition() throws Exception {
        KafkaTransport t = transport();
        String s = KafkaTestSupport.unique("replay-time");
        String g = s + "-g";
        Recorder rec = new Recorder();
        KafkaTestSupport.awaitAssigned(t.subscribe(serial(g, s), rec));
        publish(t, s, "early-", 30);
        rec.awaitCount(30, WAIT);
        Thread.sleep(50);
        Instant middle = Instant.now();
        Thread.sleep(50);
        List<String> late = publish(t, s, "late-", 30);
        List<Recorder.Received> firstPass = rec.awaitCount(60, WAIT);
        Map<Integer, Long> firstLateOffset = new TreeMap<>();
        Map<Integer, Long> end = new TreeMap<>();
        for (Recorder.Received r : firstPass) {
            long[] o = origin(r);
            if (r.body().startsWith("late-")) {
                firstLateOffset.merge((int) o[0], o[1], Math::min);
            }
            end.merge((int) o[0], o[1] + 1, Math::max);
        }
        Thread.sleep(300); // let the first pass commit, so the result's previous positions are the ends

        long started = System.nanoTime();
        ReplayResult result = t.replay(g, s, ReplayFrom.time(middle));
        System.out.printf("replay by time took %d ms%n", (System.nanoTime() - started) / 1_000_000);

        assertThat(result.moves()).hasSize(3);
        for (ReplayResult.Move m : result.moves()) {
            assertThat(m.transport()).isEqualTo("kafka");
            assertThat(m.newPosition()).as("partition %s", m.partition())
                    .isEqualTo(firstLateOffset.getOrDefault(m.partition(), end.get(m.partition())));
            assertThat(m.previousPosition()).isEqualTo(end.get(m.partition()));
        }
        List<Recorder.Received> all = rec.awaitCount(90, WAIT);
        assertThat(rec.after(Duration.ofMillis(1000))).as("each late record exactly once more").hasSize(90);
        List<Recorder.Received> again = all.subList(60, 90);
        assertThat(again).extracting(Recorder.Received::body).containsExactlyInAnyOrderElementsOf(late);
        Map<Integer, List<Long>> offsetsByPartition = new HashMap<>();
        for (Recorder.Received r : again) {
            long[] o = origin(r);
            offsetsByPartition.computeIfAbsent((int) o[0], x -> new ArrayList<>()).add(o[1]);
        }
        offsetsByPartition.forEach((p, offsets) -> assertThat(offsets).as("partition %s in order", p).isSorted());
    }

    @Test
    void theBusReplaysAGroupFromTheBeginningAndATimeAfterTheLastRecordIsTheEnd() throws Exception {
        String s = KafkaTestSupport.unique("replay-bus");
        List<String> got = new CopyOnWriteArrayList<>();
        try (EventBus bus = EventBus.builder().service("replay-bus").transport(KafkaTestSupport.transport("replay-bus"))
                .defaultStream(s).build()) {
            bus.subscribe(Tick.class, "readers", e -> got.add(e.key() + e.n()));
            List<String> sent = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                Tick tick = new Tick("k" + (i % 3), i);
                bus.publish(tick).join();
                sent.add(tick.key() + tick.n());
            }
            awaitSize(got, 12);

            ReplayResult r = bus.replay("readers", ReplayFrom.beginning());
            assertThat(r.moves()).hasSize(3).allSatisfy(m -> assertThat(m.newPosition()).isZero());
            awaitSize(got, 24);
            Thread.sleep(1000);
            assertThat(got).hasSize(24);
            assertThat(got.subList(12, 24)).containsExactlyInAnyOrderElementsOf(sent);
            for (String key : List.of("k0", "k1", "k2")) {
                assertThat(got.subList(12, 24).stream().filter(x -> x.startsWith(key)).toList())
                        .containsExactlyElementsOf(sent.stream().filter(x -> x.startsWith(key)).toList());
            }

            ReplayResult atEnd = bus.replay("readers", ReplayFrom.time(Instant.now().plusSeconds(3600)));
            assertThat(atEnd.moves()).extracting(ReplayResult.Move::newPosition).doesNotContainNull();
            assertThat(atEnd.moves().stream().mapToLong(ReplayResult.Move::newPosition).sum())
                    .as("end offsets: as many records as were sent").isEqualTo(12);
            Thread.sleep(1000);
            assertThat(got).as("nothing after the end").hasSize(24);
        }
    }

    @Test
    void aGroupWithNoMembersHasItsCommittedOffsetsAlteredAndStartsThereNextTime() throws Exception {
        KafkaTransport t = transport();
        String s = KafkaTestSupport.unique("replay-empty");
        String g = s + "-g";
        Recorder rec = new Recorder();
        TransportSubscription sub = t.subscribe(request(g, s), rec);
        KafkaTestSupport.awaitAssigned(sub);
        List<String> sent = publish(t, s, "m", 12);
        rec.awaitCount(12, WAIT);
        sub.close(Duration.ofSeconds(5));

        ReplayResult r = t.replay(g, s, ReplayFrom.position(1));
        assertThat(r.moves()).hasSize(3).allSatisfy(m -> {
            assertThat(m.newPosition()).isEqualTo(Math.min(1, m.previousPosition()));
            assertThat(m.previousPosition()).isPositive();
        });
        int expectedAgain = (int) r.moves().stream().mapToLong(m -> m.previousPosition() - m.newPosition()).sum();

        Recorder again = new Recorder();
        KafkaTestSupport.awaitAssigned(t.subscribe(request(g, s), again));
        again.awaitCount(expectedAgain, WAIT);
        assertThat(again.after(Duration.ofMillis(1000))).hasSize(expectedAgain)
                .extracting(Recorder.Received::body).isSubsetOf(sent);
        assertThat(again.received()).allSatisfy(x -> assertThat(origin(x)[1]).isPositive());

        assertThatThrownBy(() -> t.replay(g, s, ReplayFrom.positions(Map.of(3, 0L))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no partition 3");
    }

    @Test
    void partitionsHeldByAnotherInstanceAreRefusedBeforeAnythingMoves() throws Exception {
        KafkaTransport here = transport();
        KafkaTransport elsewhere = transport();
        String s = KafkaTestSupport.unique("replay-shared");
        String g = s + "-g";
        Recorder a = new Recorder();
        Recorder b = new Recorder();
        KafkaSubscription subA = here.subscribe(request(g, s), a);
        KafkaSubscription subB = elsewhere.subscribe(request(g, s), b);
        KafkaTestSupport.awaitAssigned(subA);
        KafkaTestSupport.awaitAssigned(subB);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (subA.assignment().size() + subB.assignment().size() < 3 || subA.assignment().size() == 3) {
            assertThat(System.nanoTime()).as("the group settles with both members").isLessThan(deadline);
            Thread.sleep(50);
        }
        publish(here, s, "m", 12);
        int before = awaitTotal(a, b, 12);

        assertThatThrownBy(() -> here.replay(g, s, ReplayFrom.beginning()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("other instances of the group hold partitions of it")
                .hasMessageContaining("close the group's subscriptions on the other instances");
        Thread.sleep(1000);
        assertThat(a.count() + b.count()).as("nothing moved").isEqualTo(before);
    }

    private static int awaitTotal(Recorder a, Recorder b, int n) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (a.count() + b.count() < n) {
            assertThat(System.nanoTime()).as("%s deliveries", n).isLessThan(deadline);
            Thread.sleep(20);
        }
        return a.count() + b.count();
    }

    static void awaitSize(List<?> list, int n) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (list.size() < n) {
            assertThat(System.nanoTime()).as("%s events, got %s", n, list).isLessThan(deadline);
            Thread.sleep(10);
        }
    }

    /** An event of the bus-level test, on the bus's default stream. */
    public record Tick(String key, int n) implements dev.eventbus.Event {
        @Override
        public String eventKey() {
            return key;
        }
    }
}
