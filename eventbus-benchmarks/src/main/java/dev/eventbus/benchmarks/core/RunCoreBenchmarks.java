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
 * java -cp eventbus-benchmarks/target/benchmarks.jar dev.eventbus.benchmarks.core.RunCoreBenchmarks [sync] [async] [rounds=N] [quick]
 * </pre>
 * {@code sync} and {@code async} pick one benchmark (default: both). {@code rounds=N} repeats the whole run N times
 * and judges the median of each ratio over the rounds: on a shared machine the load changes between one benchmark and
 * the next, and repeating the A-then-B sequence is what the same-run rule can offer against that. {@code quick} is a
 * smoke run (1 fork, 1 short iteration each) whose figures mean nothing. Exit status 0 when every target was met,
 * 1 when one was missed, 2 on bad arguments. A full round takes about 3.5 minutes.
 */
public final class RunCoreBenchmarks {

    private RunCoreBenchmarks() {
    }

    /** One ratio with its target. */
    private record Ratio(String what, double value, double target, boolean atLeast, boolean judged) {
        boolean met() {
            return atLeast ? value >= target : value <= target;
        }
    }

    public static void main(String[] args) throws RunnerException {
        boolean sync = false;
        boolean async = false;
        boolean quick = false;
        int rounds = 1;
        for (String a : args) {
            if (a.equals("sync")) {
                sync = true;
            } else if (a.equals("async")) {
                async = true;
            } else if (a.equals("quick")) {
                quick = true;
            } else if (a.matches("rounds=[1-9][0-9]*")) {
                rounds = Integer.parseInt(a.substring("rounds=".length()));
            } else {
                System.err.println("unknown argument '" + a
                        + "'; usage: RunCoreBenchmarks [sync] [async] [rounds=N] [quick]");
                System.exit(2);
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
        List<List<Ratio>> all = new ArrayList<>();
        for (int r = 1; r <= rounds; r++) {
            Collection<RunResult> results = new Runner(o.build()).run();
            System.out.println();
            System.out.println("== core benchmarks, round " + r + " of " + rounds + ": figures and ratios ==");
            List<Ratio> ratios = report(results);
            all.add(ratios);
        }
        boolean ok = true;
        System.out.println();
        System.out.println("== core benchmarks: " + (rounds == 1 ? "verdict" : "median over " + rounds + " rounds") + " ==");
        System.out.println(String.format(Locale.ROOT, "%-50s %8s   %-7s  %s", "ratio (same run)", "value", "target",
                "verdict") + (rounds == 1 ? "" : "   per round"));
        for (int i = 0; i < all.get(0).size(); i++) {
            Ratio first = all.get(0).get(i);
            List<Double> values = new ArrayList<>();
            for (List<Ratio> round : all) {
                values.add(round.get(i).value());
            }
            List<Double> sorted = new ArrayList<>(values);
            sorted.sort(Double::compare);
            int n = sorted.size();
            double median = n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
            Ratio m = new Ratio(first.what(), median, first.target(), first.atLeast(), first.judged());
            if (m.judged()) {
                ok &= m.met();
            }
            StringBuilder perRound = new StringBuilder();
            if (rounds > 1) {
                perRound.append("   ");
                for (double v : values) {
                    perRound.append(String.format(Locale.ROOT, " %.2f", v));
                }
            }
            System.out.println(format(m) + perRound);
        }
        System.exit(ok ? 0 : 1);
    }

    /** Prints the figures and ratios of one run and returns the ratios, always in the same order. */
    static List<Ratio> report(Collection<RunResult> results) {
        Map<String, RunResult> byKey = new TreeMap<>(); // "Class.method|subscribers"
        for (RunResult r : results) {
            String label = r.getParams().getBenchmark();
            String method = label.substring(label.lastIndexOf('.') + 1);
            String cls = label.substring(0, label.lastIndexOf('.'));
            String subs = r.getParams().getParam("subscribers");
            byKey.put(cls.substring(cls.lastIndexOf('.') + 1) + "." + method + "|" + (subs == null ? "-" : subs), r);
        }
        System.out.println(String.format(Locale.ROOT, "%-46s %28s %10s", "benchmark", "ops/s (± 99.9% CI)", "B/op"));
        for (Map.Entry<String, RunResult> e : byKey.entrySet()) {
            RunResult r = e.getValue();
            System.out.println(String.format(Locale.ROOT, "%-46s %28s %10s",
                    e.getKey().replace("|-", "").replace("|", " subs="),
                    String.format(Locale.ROOT, "%,.0f ± %,.0f", score(r), r.getPrimaryResult().getScoreError()),
                    String.format(Locale.ROOT, "%.1f", bytesPerOp(r))));
        }
        List<Ratio> ratios = new ArrayList<>();
        for (String subs : new String[] {"1", "4"}) {
            RunResult ours = byKey.get("SyncPublishBenchmark.ours|" + subs);
            RunResult guava = byKey.get("SyncPublishBenchmark.guava|" + subs);
            RunResult hand = byKey.get("SyncPublishBenchmark.handLoop|" + subs);
            RunResult same = byKey.get("SyncPublishBenchmark.handLoopSameClass|" + subs);
            if (ours == null || guava == null || hand == null) {
                continue;
            }
            String s = "sync " + subs + " sub: ";
            ratios.add(new Ratio(s + "ours / guava throughput", score(ours) / score(guava), 10, true, true));
            ratios.add(new Ratio(s + "hand loop / ours throughput", score(hand) / score(ours), 2, false, true));
            if (same != null) {
                ratios.add(new Ratio(s + "hand loop, 1 class / ours (info)", score(same) / score(ours), 2, false, false));
            }
            double gb = bytesPerOp(guava);
            ratios.add(new Ratio(s + "ours / guava bytes per op", gb == 0 ? Double.NaN : bytesPerOp(ours) / gb, 0.25,
                    false, true));
        }
        RunResult aOurs = byKey.get("AsyncPublishBenchmark.ours|-");
        RunResult aGuava = byKey.get("AsyncPublishBenchmark.guava|-");
        if (aOurs != null && aGuava != null) {
            ratios.add(new Ratio("async 1 producer/1 consumer: ours / guava", score(aOurs) / score(aGuava), 3, true,
                    true));
        }
        System.out.println();
        for (Ratio r : ratios) {
            System.out.println(format(r));
        }
        return ratios;
    }

    private static String format(Ratio r) {
        return String.format(Locale.ROOT, "%-50s %8.2f   %s%-5s  %s", r.what(), r.value(), r.atLeast() ? ">=" : "<=",
                trim(r.target()), r.judged() ? (r.met() ? "met" : "MISSED") : "(information)");
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
