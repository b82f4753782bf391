package dev.eventbus.kafka.internal;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

/** The decided-offsets map written into offset commits' metadata: round trips, size bound, foreign metadata. */
class FinishedOffsetsTest {

    private static List<Long> decoded(long base, String metadata, long upTo) {
        FinishedOffsets.Decided d = FinishedOffsets.decode(base, metadata);
        List<Long> out = new ArrayList<>();
        for (long o = base; d != null && o < upTo; o++) {
            if (d.contains(o)) {
                out.add(o);
            }
        }
        return out;
    }

    private static String encode(long base, Iterable<Long> offsets) {
        FinishedOffsets.Encoder e = FinishedOffsets.encoder(base);
        offsets.forEach(e::add);
        return e.finish();
    }

    @Test
    void theExampleOfTheJavadocRoundTrips() {
        List<Long> decided = new ArrayList<>();
        for (long o = 101; o <= 140; o++) {
            decided.add(o);
        }
        decided.add(150L);
        String m = encode(100, decided);
        assertThat(m).startsWith("eb1:").hasSizeLessThan(12); // runs 1, 40, 9, 1: four bytes
        assertThat(decoded(100, m, 1000)).isEqualTo(decided);
        assertThat(FinishedOffsets.decode(100, m).count()).isEqualTo(41);
    }

    @Test
    void randomSetsRoundTripAtLargeOffsets() {
        Random random = new Random(42);
        for (int round = 0; round < 200; round++) {
            long base = random.nextLong(1L << 50);
            TreeSet<Long> decided = new TreeSet<>();
            int n = random.nextInt(300);
            for (int i = 0; i < n; i++) {
                decided.add(base + 1 + random.nextInt(2000));
            }
            String m = encode(base, decided);
            assertThat(decoded(base, m, base + 2002)).as("round %d", round).containsExactlyElementsOf(decided);
        }
    }

    @Test
    void nothingDecidedIsEmptyMetadataAndTheBaseItselfIsNeverDecided() {
        assertThat(encode(7, List.of())).isEmpty();
        assertThat(encode(7, List.of(3L, 7L))).isEmpty(); // at or below the committed offset: ignored
        assertThat(FinishedOffsets.decode(7, "")).isNull();
    }

    @Test
    void foreignOrDamagedMetadataIsIgnored() {
        assertThat(FinishedOffsets.decode(5, "committed by a tool")).isNull();
        assertThat(FinishedOffsets.decode(5, null)).isNull();
        assertThat(FinishedOffsets.decode(5, "eb1:!!!")).isNull();
        assertThat(FinishedOffsets.decode(5, "eb1:gA")).isNull(); // a varint that never ends
        assertThat(FinishedOffsets.decode(5, "eb1:AAE")).isNull(); // a zero-length run
    }

    @Test
    void theWorstCaseStaysUnderTheBrokersMetadataLimitAndKeepsTheNearestRuns() {
        // Every other offset decided, over a million offsets: far more runs than fit.
        FinishedOffsets.Encoder e = FinishedOffsets.encoder(0);
        for (long o = 2; o < 1_000_000; o += 2) {
            e.add(o);
        }
        String m = e.finish();
        assertThat(m.length()).isLessThanOrEqualTo(FinishedOffsets.MAX_CHARS).isLessThan(4096);
        assertThat(e.dropped()).isPositive();
        FinishedOffsets.Decided d = FinishedOffsets.decode(0, m);
        int kept = d.count();
        assertThat(kept + e.dropped()).isEqualTo(499_999);
        // What is kept is a prefix: every offset below the last kept one is right, nothing above is claimed.
        for (long o = 1; o < d.end(); o++) {
            assertThat(d.contains(o)).as("offset %d", o).isEqualTo(o % 2 == 0);
        }
        assertThat(d.contains(d.end() + 1)).isFalse();
        assertThat(kept).isGreaterThan(1000); // two bytes per run pair at this density
    }

    @Test
    void aPartitionCommitsItsDecidedOffsetsAndANewOwnerSkipsThem() {
        TopicPartition tp = new TopicPartition("orders", 0);
        PartitionState old = new PartitionState(tp, false);
        old.startFrom(new OffsetAndMetadata(10));
        List<Work> works = new ArrayList<>();
        for (long o = 10; o < 20; o++) {
            Work w = new Work(new ConsumerRecord<>("orders", 0, o, null, null), old);
            old.append(w);
            old.nextOffset = o + 1;
            works.add(w);
        }
        // 10 and 14 are running; the rest are decided.
        for (Work w : works) {
            w.done = w.record.offset() != 10 && w.record.offset() != 14;
        }
        old.advance();
        OffsetAndMetadata commit = old.committable(-1);
        assertThat(commit.offset()).isEqualTo(10);
        old.committed(commit);
        assertThat(old.committable(-1)).as("nothing new to commit").isNull();

        PartitionState next = new PartitionState(tp, false);
        assertThat(next.startFrom(commit)).isEqualTo(8);
        List<Long> handledAgain = new ArrayList<>();
        for (long o = 10; o < 25; o++) {
            if (!next.decidedEarlier(o)) {
                handledAgain.add(o);
            }
        }
        assertThat(handledAgain).containsExactly(10L, 14L, 20L, 21L, 22L, 23L, 24L);
    }

    @Test
    void decidedOffsetsNotPolledYetAreCarriedIntoTheNextCommit() {
        TopicPartition tp = new TopicPartition("orders", 1);
        FinishedOffsets.Encoder e = FinishedOffsets.encoder(100);
        e.add(103);
        e.add(104);
        PartitionState ps = new PartitionState(tp, false);
        ps.startFrom(new OffsetAndMetadata(100, e.finish()));
        // Offsets 100 and 101 polled; 100 decided, 101 still running; 103-104 not polled yet.
        Work w100 = new Work(new ConsumerRecord<>("orders", 1, 100, null, null), ps);
        Work w101 = new Work(new ConsumerRecord<>("orders", 1, 101, null, null), ps);
        for (Work w : List.of(w100, w101)) {
            assertThat(ps.decidedEarlier(w.record.offset())).isFalse();
            ps.append(w);
            ps.nextOffset = w.record.offset() + 1;
        }
        w100.done = true;
        ps.advance();
        OffsetAndMetadata commit = ps.committable(-1);
        assertThat(commit.offset()).isEqualTo(101);
        assertThat(decoded(101, commit.metadata(), 200)).containsExactly(103L, 104L);
    }
}
