package dev.eventbus.internal;

import dev.eventbus.EventBusException;
import dev.eventbus.OverflowPolicy;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The lanes' lock-free ring: exact bound, no item lost or duplicated, per-producer order kept. */
class KeyedLanesTest {

    @Test
    void ringHoldsExactlyItsCapacityAndKeepsOrder() {
        for (int capacity : new int[] {1, 2, 3, 5, 8, 1000}) {
            KeyedLanes.Ring ring = new KeyedLanes.Ring(capacity);
            for (int round = 0; round < 3; round++) { // wraps around the array
                for (int i = 0; i < capacity; i++) {
                    assertThat(ring.offer(i)).isTrue();
                }
                assertThat(ring.offer(-1)).as("capacity %d", capacity).isFalse();
                assertThat(ring.size()).isEqualTo(capacity);
                for (int i = 0; i < capacity; i++) {
                    assertThat(ring.poll()).isEqualTo(i);
                }
                assertThat(ring.poll()).isNull();
                assertThat(ring.isEmpty()).isTrue();
            }
        }
    }

    @Test
    void manyProducersOneLaneNothingLostNothingReordered() throws Exception {
        int producers = 4;
        int each = 50_000;
        ExecutorService executor = Executors.newFixedThreadPool(2);
        long[] lastSeen = new long[producers];
        java.util.Arrays.fill(lastSeen, -1);
        AtomicLong handled = new AtomicLong();
        List<String> errors = new ArrayList<>();
        KeyedLanes<long[]> lanes = new KeyedLanes<>("test", 1, 64, executor, item -> {
            int p = (int) item[0];
            if (item[1] != lastSeen[p] + 1) {
                synchronized (errors) {
                    errors.add("producer " + p + ": " + item[1] + " after " + lastSeen[p]);
                }
            }
            lastSeen[p] = item[1];
            handled.incrementAndGet();
        }, () -> true, OverflowPolicy.BLOCK, Duration.ofSeconds(30));
        CountDownLatch done = new CountDownLatch(producers);
        for (int p = 0; p < producers; p++) {
            int id = p;
            new Thread(() -> {
                for (int i = 0; i < each; i++) {
                    lanes.submit("same-key", new long[] {id, i});
                }
                done.countDown();
            }).start();
        }
        assertThat(done.await(60, TimeUnit.SECONDS)).isTrue();
        assertThat(lanes.awaitIdle(System.nanoTime() + TimeUnit.SECONDS.toNanos(30))).isTrue();
        executor.shutdown();
        assertThat(errors).isEmpty();
        assertThat(handled.get()).isEqualTo((long) producers * each);
        assertThat(lanes.queued()).isZero();
    }

    @Test
    void failPolicyRefusesOnlyBeyondTheCapacity() {
        CountDownLatch release = new CountDownLatch(1);
        ExecutorService executor = Executors.newSingleThreadExecutor();
        ConcurrentHashMap<Integer, Boolean> seen = new ConcurrentHashMap<>();
        KeyedLanes<Integer> lanes = new KeyedLanes<>("test", 1, 3, executor, item -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            seen.put(item, true);
        }, () -> true, OverflowPolicy.FAIL, Duration.ofSeconds(1));
        lanes.submit(null, 0);
        // the worker takes item 0 and blocks on it; 3 more fit, the next does not
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (lanes.queued() != 0 && System.nanoTime() < deadline) {
            Thread.onSpinWait();
        }
        for (int i = 1; i <= 3; i++) {
            lanes.submit(null, i);
        }
        assertThatThrownBy(() -> lanes.submit(null, 4)).isInstanceOf(EventBusException.class);
        release.countDown();
        assertThat(lanes.awaitIdle(System.nanoTime() + TimeUnit.SECONDS.toNanos(10))).isTrue();
        executor.shutdown();
        assertThat(seen.keySet()).containsExactlyInAnyOrder(0, 1, 2, 3);
        assertThat(lanes.rejectedCount()).isEqualTo(1);
    }

    @Test
    void aConsumerPublishingIntoItsOwnFullLaneUnderBlockMakesRoomInsteadOfWaitingForItself() throws Exception {
        ExecutorService executor = Executors.newSingleThreadExecutor();
        List<Integer> handled = java.util.Collections.synchronizedList(new ArrayList<>());
        CountDownLatch done = new CountDownLatch(1);
        @SuppressWarnings("unchecked")
        KeyedLanes<Integer>[] holder = new KeyedLanes[1];
        // One lane of 2 slots; handling item 0 publishes 1..20 into that same lane, as a subscriber would.
        holder[0] = new KeyedLanes<>("test", 1, 2, executor, item -> {
            handled.add(item);
            if (item == 0) {
                for (int i = 1; i <= 20; i++) {
                    holder[0].submit(null, i);
                }
            }
            if (item == 20) {
                done.countDown();
            }
        }, () -> true, OverflowPolicy.BLOCK, Duration.ofSeconds(30));
        long t0 = System.nanoTime();
        holder[0].submit(null, 0);
        assertThat(done.await(10, TimeUnit.SECONDS)).as("all 21 items handled").isTrue();
        assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - t0)).as("no wait for a timeout").isLessThan(5);
        executor.shutdown();
        List<Integer> expected = new ArrayList<>();
        for (int i = 0; i <= 20; i++) {
            expected.add(i);
        }
        // Started in lane order (the oldest item is handled inline before the newer one is queued).
        assertThat(handled).containsExactlyElementsOf(expected);
        assertThat(holder[0].rejectedCount()).isZero();
    }
}
