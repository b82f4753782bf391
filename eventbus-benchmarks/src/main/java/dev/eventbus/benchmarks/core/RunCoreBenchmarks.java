package dev.eventbus.benchmarks.core;

import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Runs the core benchmarks with the project's settings (2 forks, 3 x 1 s warm-up, 5 x 1 s measurement, GC profiler)
 * and prints each figure as a ratio against its anchor from the same run, next to the target.
 *
 * <pre>
 * java -cp eventbus-benchmarks/target/benchmarks.jar dev.eventbus.benchmarks.core.RunCoreBenchmarks [sync] [async] [quick]
 * </pre>
 * {@code sync} and {@code async} pick one benchmark (default: both); {@code quick} is a smoke run (1 fork, 1 short
 * iteration each) whose figures mean nothing. Exit status 0 when every target was met, 1 when one was missed,
 * 2 on bad arguments.
 */
public final class RunCoreBenchmarks {

    private RunCoreBenchmarks() {
    }

    public static void main(String[] args) throws RunnerException {
        boolean sync = false;
        boolean async = false;
        boolean quick = false;
        for (String a : args) {
            switch (a) {
                case "sync" -> sync = true;
                case "async" -> async = true;
                case "quick" -> quick = true;
                default -> {
                    System.err.println("unknown argument '" + a + "'; usage: RunCoreBenchmarks [sync] [async] [quick]");
                    System.exit(2);
                }
            }
        }
        if (!sync && !async) {
            sync = true;
            async = true;
        }
        ChainedOptionsBuilder o = new OptionsBuilder()
                .addProfiler(GCProfiler.class)
                .shouldFailOnError(true);
        if (sync) {
            o.include(SyncPublishBenchmark.class.getName() + "\\.");
        }
        if (async) {
            o.include(AsyncPublishBenchmark.class.getName() + "\\.");
        }
        if (quick) {
            o.forks(1).warmupIterations(1).measurementIterations(1)
                    .warmupTime(TimeValue.milliseconds(300)).measurementTime(TimeValue.milliseconds(300));
        }
        Collection<RunResult> results = new Runner(o.build()).run();
        boolean ok = report(results);
        System.exit(ok ? 0 : 1);
    }

    /** Prints the ratios; returns whether every target was met. */
    static boolean report(Collection<RunResult> results) {
        // key: "benchmark method|subscribers"
        Map<String, RunResult> byKey = new TreeMap<>();
        for (RunResult r : results) {
            String label = r.getParams().getBenchmark();
            String method = label.substring(label.lastIndexOf('.') + 1);
            String cls = label.substring(0, label.lastIndexOf('.'));
            String subs = r.getParams().getParam("subscribers");
            byKey.put(cls.substring(cls.lastIndexOf('.') + 1) + "." + method + "|" + (subs == null ? "-" : subs), r);
        }
        List<String> lines = new ArrayList<>();
        boolean ok = true;
        lines.add(String.format(Locale.ROOT, "%-44s %16s %12s", "benchmark", "ops/s", "B/op"));
        for (Map.Entry<String, RunResult> e : byKey.entrySet()) {
            RunResult r = e.getValue();
            lines.add(String.format(Locale.ROOT, "%-44s %16s %12s", e.getKey().replace("|-", "").replace("|", " subs="),
                    String.format(Locale.ROOT, "%,.0f ± %,.0f", score(r), r.getPrimaryResult().getScoreError()),
                    String.format(Locale.ROOT, "%.1f", bytesPerOp(r))));
        }
        lines.add("");
        lines.add("ratios (same run)                              measured   target   verdict");
        for (String subs : new String[] {"1", "4"}) {
            RunResult ours = byKey.get("SyncPublishBenchmark.ours|" + subs);
            RunResult guava = byKey.get("SyncPublishBenchmark.guava|" + subs);
            RunResult hand = byKey.get("SyncPublishBenchmark.handLoop|" + subs);
            RunResult same = byKey.get("SyncPublishBenchmark.handLoopSameClass|" + subs);
            if (ours == null || guava == null || hand == null) {
                continue;
            }
            ok &= line(lines, "sync " + subs + " sub: ours / guava throughput", score(ours) / score(guava), 10, true);
            ok &= line(lines, "sync " + subs + " sub: hand loop / ours throughput", score(hand) / score(ours), 2, false);
            if (same != null) {
                line(lines, "sync " + subs + " sub: hand loop (1 class) / ours (info)", score(same) / score(ours), 2,
                        false);
            }
            double gb = bytesPerOp(guava);
            double ob = bytesPerOp(ours);
            ok &= line(lines, "sync " + subs + " sub: ours / guava bytes per op", gb == 0 ? Double.NaN : ob / gb, 0.25,
                    false);
        }
        RunResult aOurs = byKey.get("AsyncPublishBenchmark.ours|-");
        RunResult aGuava = byKey.get("AsyncPublishBenchmark.guava|-");
        if (aOurs != null && aGuava != null) {
            ok &= line(lines, "async 1 producer/1 consumer: ours / guava", score(aOurs) / score(aGuava), 3, true);
        }
        System.out.println();
        System.out.println("== core benchmarks: figures and ratios ==");
        lines.forEach(System.out::println);
        return ok;
    }

    private static boolean line(List<String> lines, String what, double ratio, double target, boolean atLeast) {
        boolean met = atLeast ? ratio >= target : ratio <= target;
        lines.add(String.format(Locale.ROOT, "%-46s %8.2f   %s%-5s  %s", what, ratio, atLeast ? ">=" : "<=",
                trim(target), met ? "met" : "MISSED"));
        return met;
    }

    private static String trim(double d) {
        return d == Math.rint(d) ? Long.toString((long) d) : Double.toString(d);
    }

    private static double score(RunResult r) {
        return r.getPrimaryResult().getScore();
    }

    @SuppressWarnings("rawtypes") // JMH's API hands out raw Results
    private static double bytesPerOp(RunResult r) {
        for (Map.Entry<String, Result> e : r.getSecondaryResults().entrySet()) {
            if (e.getKey().endsWith("gc.alloc.rate.norm")) {
                return e.getValue().getScore();
            }
        }
        return Double.NaN;
    }
}
