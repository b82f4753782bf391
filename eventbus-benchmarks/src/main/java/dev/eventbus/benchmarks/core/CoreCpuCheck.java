package dev.eventbus.benchmarks.core;

import com.google.common.eventbus.AllowConcurrentEvents;
import com.google.common.eventbus.AsyncEventBus;
import dev.eventbus.EventBus;
import dev.eventbus.OverflowPolicy;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * A cross-check of the JMH figures that holds up on a busy shared machine: it measures the CPU time the publishing
 * thread (and, for async, the consumer thread) spends per event, which other processes' load barely changes, where
 * JMH's ops/s is wall time. Not a replacement for {@link RunCoreBenchmarks} (the figures of record); a second opinion
 * when the machine is loaded.
 *
 * <p>Each contender runs in its own JVM (so no JIT profile is shared), anchor and ours alternated, for
 * {@code rounds} rounds; a contender's figure is the best of 30 timed slices after 3 s of warm-up, and a ratio is the
 * median over rounds.
 *
 * <pre>
 * java -cp eventbus-benchmarks/target/benchmarks.jar dev.eventbus.benchmarks.core.CoreCpuCheck [rounds=3]
 * </pre>
 */
public final class CoreCpuCheck {

    private static final int SLICES = 30;
    private static final long WARMUP_NANOS = TimeUnit.SECONDS.toNanos(3);

    private CoreCpuCheck() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length >= 1 && args[0].equals("child")) {
            child(args[1], Integer.parseInt(args[2]));
            return;
        }
        int rounds = 3;
        for (String a : args) {
            if (a.matches("rounds=[1-9][0-9]*")) {
                rounds = Integer.parseInt(a.substring("rounds=".length()));
            } else {
                System.err.println("usage: CoreCpuCheck [rounds=N]");
                System.exit(2);
            }
        }
        String[][] runs = {
                {"hand", "1"}, {"guava", "1"}, {"ours", "1"},
                {"hand", "4"}, {"guava", "4"}, {"ours", "4"},
                {"guava-async", "1"}, {"ours-async", "1"}};
        Map<String, List<double[]>> figures = new LinkedHashMap<>();
        for (int r = 1; r <= rounds; r++) {
            for (String[] run : runs) {
                double[] f = fork(run[0], run[1]);
                figures.computeIfAbsent(run[0] + " " + run[1], k -> new ArrayList<>()).add(f);
                System.out.printf(Locale.ROOT, "round %d  %-14s subs=%s  %s%n", r, run[0], run[1],
                        run[0].endsWith("async")
                                ? String.format(Locale.ROOT, "wall %.0f ns/event, producer CPU %.0f, consumer CPU %.0f",
                                f[0], f[1], f[2])
                                : String.format(Locale.ROOT, "%.2f CPU ns/publish", f[0]));
            }
        }
        System.out.println();
        System.out.println("== CPU-time cross-check: median over " + rounds + " rounds of per-round ratios ==");
        for (String subs : new String[] {"1", "4"}) {
            System.out.printf(Locale.ROOT, "sync %s sub: guava / ours CPU per publish   %6.2f  (target >= 10)%n", subs,
                    medianRatio(figures.get("guava " + subs), figures.get("ours " + subs), 0));
            System.out.printf(Locale.ROOT, "sync %s sub: ours / hand loop CPU per publish %6.2f  (target <= 2)%n", subs,
                    medianRatio(figures.get("ours " + subs), figures.get("hand " + subs), 0));
        }
        System.out.printf(Locale.ROOT, "async: guava / ours wall time per event         %6.2f  (target >= 3)%n",
                medianRatio(figures.get("guava-async 1"), figures.get("ours-async 1"), 0));
    }

    private static double medianRatio(List<double[]> num, List<double[]> den, int index) {
        double[] r = new double[num.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = num.get(i)[index] / den.get(i)[index];
        }
        Arrays.sort(r);
        return r.length % 2 == 1 ? r[r.length / 2] : (r[r.length / 2 - 1] + r[r.length / 2]) / 2;
    }

    /** Runs one contender in a fresh JVM with this JVM's classpath; returns the figures it printed. */
    private static double[] fork(String contender, String subs) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElse("java");
        Process p = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"),
                "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", CoreCpuCheck.class.getName(), "child", contender, subs)
                .redirectErrorStream(true).start();
        String result = null;
        StringBuilder all = new StringBuilder();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                all.append(line).append('\n');
                if (line.startsWith("RESULT ")) {
                    result = line.substring("RESULT ".length());
                }
            }
        }
        if (p.waitFor() != 0 || result == null) {
            throw new IllegalStateException("the " + contender + " run failed:\n" + all);
        }
        return Arrays.stream(result.trim().split(" ")).mapToDouble(Double::parseDouble).toArray();
    }

    // ------------------------------------------------------------------------------------------------------------
    // The measured side, in the child JVM

    /** What the hand loop calls. */
    interface Listener {
        void on(OrderPlaced e);
    }

    /** Four distinct subscriber classes, each summing what it got (read at the end, so nothing is eliminated). */
    public static class Sum implements Listener {
        long sum;

        @Override
        public void on(OrderPlaced e) {
            sum += e.cents();
        }
    }

    public static final class C1 extends Sum {
        @Override
        @com.google.common.eventbus.Subscribe
        @AllowConcurrentEvents
        @dev.eventbus.Subscribe
        public void on(OrderPlaced e) {
            sum += e.cents();
        }
    }

    public static final class C2 extends Sum {
        @Override
        @com.google.common.eventbus.Subscribe
        @AllowConcurrentEvents
        @dev.eventbus.Subscribe
        public void on(OrderPlaced e) {
            sum += e.cents();
        }
    }

    public static final class C3 extends Sum {
        @Override
        @com.google.common.eventbus.Subscribe
        @AllowConcurrentEvents
        @dev.eventbus.Subscribe
        public void on(OrderPlaced e) {
            sum += e.cents();
        }
    }

    public static final class C4 extends Sum {
        @Override
        @com.google.common.eventbus.Subscribe
        @AllowConcurrentEvents
        @dev.eventbus.Subscribe
        public void on(OrderPlaced e) {
            sum += e.cents();
        }
    }

    private static void child(String contender, int subs) throws Exception {
        if (contender.endsWith("async")) {
            asyncChild(contender.startsWith("ours"));
            return;
        }
        Sum[] listeners = Arrays.copyOf(new Sum[] {new C1(), new C2(), new C3(), new C4()}, subs);
        OrderPlaced event = OrderPlaced.INSTANCE;
        int n = 200_000;
        Runnable slice;
        AutoCloseable close = () -> { };
        switch (contender) {
            case "ours" -> {
                EventBus bus = EventBus.builder().service("cpu-check").build();
                for (Sum l : listeners) {
                    bus.register(l);
                }
                slice = () -> {
                    for (int i = 0; i < n; i++) {
                        bus.publish(event);
                    }
                };
                close = bus::close;
            }
            case "guava" -> {
                com.google.common.eventbus.EventBus bus = new com.google.common.eventbus.EventBus("cpu-check");
                for (Sum l : listeners) {
                    bus.register(l);
                }
                slice = () -> {
                    for (int i = 0; i < n; i++) {
                        bus.post(event);
                    }
                };
            }
            case "hand" -> {
                Listener[] array = listeners.clone();
                slice = () -> {
                    for (int i = 0; i < n; i++) {
                        for (Listener l : array) {
                            l.on(event);
                        }
                    }
                };
            }
            default -> throw new IllegalArgumentException(contender);
        }
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long end = System.nanoTime() + WARMUP_NANOS;
        while (System.nanoTime() < end) {
            slice.run();
        }
        double best = Double.MAX_VALUE;
        for (int s = 0; s < SLICES; s++) {
            long t0 = mx.getCurrentThreadCpuTime();
            slice.run();
            best = Math.min(best, (mx.getCurrentThreadCpuTime() - t0) / (double) n);
        }
        long expected = (long) n * (SLICES + 1) * event.cents();
        if (listeners[0].sum < expected) {
            throw new IllegalStateException("the subscriber saw too few events: " + listeners[0].sum);
        }
        close.close();
        System.out.println("RESULT " + best);
    }

    /** The async subscriber: counts and remembers its thread, so its CPU time can be read. */
    public static final class AsyncCounter {
        final AtomicLong handled = new AtomicLong();
        volatile long threadId = -1;
        long sum;

        @com.google.common.eventbus.Subscribe
        @AllowConcurrentEvents
        @dev.eventbus.Subscribe
        public void on(OrderPlaced e) {
            if (threadId < 0) {
                threadId = Thread.currentThread().getId();
            }
            sum += e.cents();
            handled.lazySet(handled.get() + 1);
        }
    }

    private static void asyncChild(boolean ours) throws Exception {
        int batch = AsyncPublishBenchmark.BATCH;
        AsyncCounter counter = new AsyncCounter();
        OrderPlaced event = OrderPlaced.INSTANCE;
        Consumer<OrderPlaced> publish;
        AutoCloseable close;
        if (ours) {
            EventBus bus = EventBus.builder().service("cpu-check")
                    .asyncDispatch(1, 65536, OverflowPolicy.BLOCK, Duration.ofSeconds(30)).build();
            bus.register(counter);
            publish = e -> {
                CompletableFuture<Void> f = bus.publish(e);
                if (f.isCompletedExceptionally()) {
                    f.join(); // throws: a lost event must fail the run
                }
            };
            close = bus::close;
        } else {
            ExecutorService executor = Executors.newSingleThreadExecutor();
            AsyncEventBus bus = new AsyncEventBus("cpu-check", executor);
            bus.register(counter);
            publish = bus::post;
            close = executor::shutdownNow;
        }
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        double[] wall = new double[SLICES];
        double[] producer = new double[SLICES];
        double[] consumer = new double[SLICES];
        long end = System.nanoTime() + WARMUP_NANOS;
        for (int s = -1; s < SLICES; ) {
            if (s >= 0 || System.nanoTime() > end) {
                s++;
            }
            if (s == SLICES) {
                break;
            }
            long target = counter.handled.get() + batch;
            long tid = counter.threadId;
            long c0 = tid < 0 ? 0 : mx.getThreadCpuTime(tid);
            long w0 = System.nanoTime();
            long p0 = mx.getCurrentThreadCpuTime();
            for (int i = 0; i < batch; i++) {
                publish.accept(event);
            }
            long p1 = mx.getCurrentThreadCpuTime();
            int spins = 0;
            while (counter.handled.get() < target) {
                if ((++spins & 0x3F) == 0) {
                    Thread.yield();
                } else {
                    Thread.onSpinWait();
                }
            }
            long w1 = System.nanoTime();
            long c1 = tid < 0 ? 0 : mx.getThreadCpuTime(tid);
            if (s >= 0) {
                wall[s] = (w1 - w0) / (double) batch;
                producer[s] = (p1 - p0) / (double) batch;
                consumer[s] = (c1 - c0) / (double) batch;
            }
        }
        close.close();
        Arrays.sort(wall);
        Arrays.sort(producer);
        Arrays.sort(consumer);
        // wall: the best slice (least disturbed); CPU: medians
        System.out.println("RESULT " + wall[0] + " " + producer[SLICES / 2] + " " + consumer[SLICES / 2]);
    }
}
