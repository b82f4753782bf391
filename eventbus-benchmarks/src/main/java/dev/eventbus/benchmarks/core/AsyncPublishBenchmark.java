package dev.eventbus.benchmarks.core;

import com.google.common.eventbus.AllowConcurrentEvents;
import com.google.common.eventbus.AsyncEventBus;
import dev.eventbus.EventBus;
import dev.eventbus.OverflowPolicy;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Asynchronous publish, one producer (the JMH thread) and one consumer thread, measured end to end: one operation
 * publishes {@value #BATCH} events, then waits (spinning) until the subscriber has handled all of them, so the
 * score, normalised per event, is events handled per second by the consumer.
 *
 * <ul>
 *   <li>{@code guava}: Guava's {@code AsyncEventBus} on {@code Executors.newSingleThreadExecutor()}, the subscriber
 *       marked {@code @AllowConcurrentEvents} (no per-event lock: Guava's fastest setting);</li>
 *   <li>{@code ours}: {@code EventBus.builder().asyncDispatch(1, 65536, OverflowPolicy.BLOCK, 30 s)}.</li>
 * </ul>
 * Target (issue 2): ours at least 3x Guava's throughput.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(2)
public class AsyncPublishBenchmark {

    /** Events per operation (per batch). */
    public static final int BATCH = 10_000;

    /** Give up waiting for the consumer after this long: a lost event must fail the run, not hang it. */
    private static final long WAIT_LIMIT_NANOS = TimeUnit.SECONDS.toNanos(60);

    /** The single subscriber: counts what it handled (one writer; the producer reads). */
    public static final class Counter {
        private final AtomicLong handled = new AtomicLong();
        private long sum;

        @com.google.common.eventbus.Subscribe
        @AllowConcurrentEvents
        @dev.eventbus.Subscribe
        public void on(OrderPlaced e) {
            sum += e.cents();
            handled.lazySet(handled.get() + 1);
        }

        long handled() {
            return handled.get();
        }

        long sum() {
            return sum;
        }

        void await(long target) {
            long deadline = System.nanoTime() + WAIT_LIMIT_NANOS;
            int spins = 0;
            while (handled.get() < target) {
                // Spin, but let the consumer have this core if the OS put both threads on one (a shared machine).
                if ((spins & 0x3F) == 0x3F) {
                    Thread.yield();
                } else {
                    Thread.onSpinWait();
                }
                if ((++spins & 0xFFFF) == 0 && System.nanoTime() - deadline > 0) {
                    throw new IllegalStateException("the consumer handled " + handled.get() + " of " + target
                            + " events within " + TimeUnit.NANOSECONDS.toSeconds(WAIT_LIMIT_NANOS) + " s");
                }
            }
        }
    }

    @State(Scope.Thread)
    public static class Guava {
        ExecutorService executor;
        AsyncEventBus bus;
        final Counter counter = new Counter();
        final OrderPlaced event = OrderPlaced.INSTANCE;

        @Setup(Level.Trial)
        public void setUp() {
            executor = Executors.newSingleThreadExecutor();
            bus = new AsyncEventBus("bench", executor);
            bus.register(counter);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws InterruptedException {
            executor.shutdownNow();
            executor.awaitTermination(10, TimeUnit.SECONDS);
        }
    }

    @State(Scope.Thread)
    public static class Ours {
        EventBus bus;
        final Counter counter = new Counter();
        final OrderPlaced event = OrderPlaced.INSTANCE;

        @Setup(Level.Trial)
        public void setUp() {
            bus = EventBus.builder().service("bench")
                    .asyncDispatch(1, 65536, OverflowPolicy.BLOCK, Duration.ofSeconds(30))
                    .build();
            bus.register(counter);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            bus.close();
            if (bus.stats().deadEvents() != 0 || bus.stats().rejected() != 0) {
                throw new IllegalStateException("events were lost: " + bus.stats());
            }
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long guava(Guava s) {
        long target = s.counter.handled() + BATCH;
        for (int i = 0; i < BATCH; i++) {
            s.bus.post(s.event);
        }
        s.counter.await(target);
        return s.counter.sum();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public long ours(Ours s) {
        long target = s.counter.handled() + BATCH;
        for (int i = 0; i < BATCH; i++) {
            CompletableFuture<Void> f = s.bus.publish(s.event);
            if (f.isCompletedExceptionally()) {
                f.join(); // throws the cause: the run fails instead of waiting for an event that never comes
            }
        }
        s.counter.await(target);
        return s.counter.sum();
    }
}
