package dev.eventbus.benchmarks.core;

import dev.eventbus.EventBus;
import dev.eventbus.benchmarks.core.SyncSubscribers.Listener;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Synchronous publish of one reused event to 1 or 4 subscribers, on the publishing thread.
 *
 * <ul>
 *   <li>{@code handLoop}: the anchor, a loop over an array of {@link Listener}s of distinct classes (the same
 *       subscriber objects the buses call);</li>
 *   <li>{@code handLoopSameClass}: the same loop over instances of one class (a monomorphic call site: the
 *       friendliest case for the hand loop, shown for reference);</li>
 *   <li>{@code guava}: Guava's {@code EventBus.post};</li>
 *   <li>{@code ours}: {@code bus.publish(event)} on an in-memory bus with the defaults (dispatch SYNC).</li>
 * </ul>
 * Targets (issue 2): ours at least 10x Guava's throughput, within 2x of the hand loop, at most a quarter of Guava's
 * bytes per operation ({@code -prof gc}).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(2)
public class SyncPublishBenchmark {

    /** The number of subscribers. */
    @State(Scope.Thread)
    public static class Subscribers {
        @Param({"1", "4"})
        public int subscribers;
    }

    @State(Scope.Thread)
    public static class HandLoop {
        Listener[] listeners;
        Listener[] sameClass;
        final OrderPlaced event = OrderPlaced.INSTANCE;

        @Setup(Level.Trial)
        public void setUp(Subscribers p, Blackhole bh) {
            listeners = SyncSubscribers.distinct(p.subscribers, bh);
            sameClass = SyncSubscribers.sameClass(p.subscribers, bh);
        }
    }

    @State(Scope.Thread)
    public static class Guava {
        com.google.common.eventbus.EventBus bus;
        final OrderPlaced event = OrderPlaced.INSTANCE;

        @Setup(Level.Trial)
        public void setUp(Subscribers p, Blackhole bh) {
            bus = new com.google.common.eventbus.EventBus("bench");
            for (Listener l : SyncSubscribers.distinct(p.subscribers, bh)) {
                bus.register(l);
            }
        }
    }

    @State(Scope.Thread)
    public static class Ours {
        EventBus bus;
        final OrderPlaced event = OrderPlaced.INSTANCE;

        @Setup(Level.Trial)
        public void setUp(Subscribers p, Blackhole bh) {
            bus = EventBus.builder().service("bench").build();
            for (Listener l : SyncSubscribers.distinct(p.subscribers, bh)) {
                bus.register(l);
            }
            // Fail fast (not with a silently flattering figure) if the event found no subscriber.
            bus.publish(event).join();
            if (bus.stats().deadEvents() != 0) {
                throw new IllegalStateException("the benchmark event reached no subscriber: " + bus.stats());
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            bus.close();
        }
    }

    @Benchmark
    public void handLoop(HandLoop s) {
        OrderPlaced e = s.event;
        for (Listener l : s.listeners) {
            l.on(e);
        }
    }

    @Benchmark
    public void handLoopSameClass(HandLoop s) {
        OrderPlaced e = s.event;
        for (Listener l : s.sameClass) {
            l.on(e);
        }
    }

    @Benchmark
    public void guava(Guava s) {
        s.bus.post(s.event);
    }

    @Benchmark
    public CompletableFuture<Void> ours(Ours s) {
        return s.bus.publish(s.event);
    }
}
