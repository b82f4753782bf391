package dev.eventbus.benchmarks.observability;

import com.google.common.eventbus.AllowConcurrentEvents;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.Subscribe;
import dev.eventbus.micrometer.EventBusMetrics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Synchronous in-memory publish of one reused event to one subscriber, with and without Micrometer metrics bound
 * (issue 13): {@code guava} (Guava's {@code EventBus.post}, the anchor), {@code ours} (no metrics), {@code metered}
 * ({@link EventBusMetrics} bound to a registry). {@code meteredIntercepted} is for information: a no-op consume
 * interceptor takes the bus off its fast path, so every handling is timed by the metrics' observer: what a timer
 * per handling costs in memory. Targets: metered / ours >= 0.8, metered / guava >= 10.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(2)
public class ObservabilityBenchmark {

    /** The event: a small record, reused. */
    @EventType(name = "bench.observed", stream = "bench")
    public record Observed(String id, int quantity) {
        static final Observed INSTANCE = new Observed("o-1", 1);
    }

    /** One subscriber for both buses: the same body, handing the event to the blackhole. */
    public static final class Sink {
        private final Blackhole bh;

        Sink(Blackhole bh) {
            this.bh = bh;
        }

        @Subscribe
        @com.google.common.eventbus.Subscribe
        @AllowConcurrentEvents
        public void on(Observed e) {
            bh.consume(e);
        }
    }

    @State(Scope.Thread)
    public static class Guava {
        com.google.common.eventbus.EventBus bus;

        @Setup(Level.Trial)
        public void setUp(Blackhole bh) {
            bus = new com.google.common.eventbus.EventBus("bench");
            bus.register(new Sink(bh));
        }
    }

    /** A bus, metered or not. */
    public abstract static class Bus {
        EventBus bus;
        EventBusMetrics metrics;
        SimpleMeterRegistry registry;

        void start(Blackhole bh, boolean metered, boolean intercepted) {
            EventBus.Builder b = EventBus.builder().service("bench");
            if (intercepted) {
                b.consumeInterceptor(chain -> chain.proceed());
            }
            bus = b.build();
            bus.register(new Sink(bh));
            if (metered) {
                registry = new SimpleMeterRegistry();
                metrics = EventBusMetrics.bind(bus, registry);
            }
            bus.publish(Observed.INSTANCE).join();
            if (bus.stats().deadEvents() != 0) {
                throw new IllegalStateException("the benchmark event reached no subscriber: " + bus.stats());
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            if (metrics != null) {
                // A sanity check that the meters are live: the counter must have seen every publish.
                double published = registry.get(EventBusMetrics.PUBLISHED).functionCounter().count();
                if (published < 1) {
                    throw new IllegalStateException("metrics saw no publish");
                }
                metrics.close();
            }
            bus.close();
        }
    }

    @State(Scope.Thread)
    public static class Plain extends Bus {
        @Setup(Level.Trial)
        public void setUp(Blackhole bh) {
            start(bh, false, false);
        }
    }

    @State(Scope.Thread)
    public static class Metered extends Bus {
        @Setup(Level.Trial)
        public void setUp(Blackhole bh) {
            start(bh, true, false);
        }
    }

    @State(Scope.Thread)
    public static class MeteredIntercepted extends Bus {
        @Setup(Level.Trial)
        public void setUp(Blackhole bh) {
            start(bh, true, true);
        }
    }

    @Benchmark
    public void guava(Guava s) {
        s.bus.post(Observed.INSTANCE);
    }

    @Benchmark
    public CompletableFuture<Void> ours(Plain s) {
        return s.bus.publish(Observed.INSTANCE);
    }

    @Benchmark
    public CompletableFuture<Void> metered(Metered s) {
        return s.bus.publish(Observed.INSTANCE);
    }

    @Benchmark
    public CompletableFuture<Void> meteredIntercepted(MeteredIntercepted s) {
        return s.bus.publish(Observed.INSTANCE);
    }
}
