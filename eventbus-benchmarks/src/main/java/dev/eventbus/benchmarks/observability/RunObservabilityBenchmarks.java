package dev.eventbus.benchmarks.observability;

import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Runs {@link ObservabilityBenchmark} with the project's settings and judges the ratios of each round (same run):
 * metered / ours >= 0.8 and metered / guava >= 10, on the median over the rounds.
 *
 * <pre>
 * java -cp eventbus-benchmarks/target/benchmarks.jar dev.eventbus.benchmarks.observability.RunObservabilityBenchmarks [rounds=N] [quick]
 * </pre>
 * Exit status 0 when both targets were met, 1 when one was missed, 2 on bad arguments.
 */
public final class RunObservabilityBenchmarks {

    private RunObservabilityBenchmarks() {
    }

    public static void main(String[] args) throws RunnerException {
        int rounds = 1;
        boolean quick = false;
        for (String a : args) {
            if (a.equals("quick")) {
                quick = true;
            } else if (a.matches("rounds=[1-9][0-9]*")) {
                rounds = Integer.parseInt(a.substring("rounds=".length()));
            } else {
                System.err.println("unknown argument '" + a + "'; usage: RunObservabilityBenchmarks [rounds=N] [quick]");
                System.exit(2);
            }
        }
        List<double[]> perRound = new ArrayList<>();
        for (int r = 1; r <= rounds; r++) {
            // One JMH run per benchmark, the pair under test alternated between rounds (A B, then B A), so that a
            // change of load on this shared machine does not always fall on the same side.
            List<String> order = r % 2 == 1 ? List.of("ours", "metered", "guava", "meteredIntercepted")
                    : List.of("metered", "ours", "guava", "meteredIntercepted");
            Map<String, Double> score = new HashMap<>();
            for (String name : order) {
                ChainedOptionsBuilder o = new OptionsBuilder()
                        .include(ObservabilityBenchmark.class.getName() + "\\." + name + "$")
                        .shouldFailOnError(true);
                if (quick) {
                    o.forks(1).warmupIterations(1).measurementIterations(1)
                            .warmupTime(TimeValue.milliseconds(300)).measurementTime(TimeValue.milliseconds(300));
                }
                Collection<RunResult> results = new Runner(o.build()).run();
                for (RunResult rr : results) {
                    String b = rr.getParams().getBenchmark();
                    score.put(b.substring(b.lastIndexOf('.') + 1), rr.getPrimaryResult().getScore());
                }
            }
            double[] ratios = {score.get("metered") / score.get("ours"), score.get("metered") / score.get("guava"),
                    score.get("meteredIntercepted") / score.get("ours")};
            perRound.add(ratios);
            System.out.printf(Locale.ROOT, "%nround %d: guava %,.0f  ours %,.0f  metered %,.0f  meteredIntercepted "
                            + "%,.0f ops/s%n", r, score.get("guava"), score.get("ours"), score.get("metered"),
                    score.get("meteredIntercepted"));
        }
        String[] names = {"metered / ours", "metered / guava", "metered+intercepted / ours (info)"};
        double[] targets = {0.8, 10, Double.NaN};
        boolean ok = true;
        System.out.println("\n== observability: median over " + rounds + " round(s) ==");
        for (int i = 0; i < names.length; i++) {
            List<Double> v = new ArrayList<>();
            for (double[] r : perRound) {
                v.add(r[i]);
            }
            v.sort(Double::compare);
            int n = v.size();
            double median = n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2;
            boolean judged = !Double.isNaN(targets[i]);
            boolean met = !judged || median >= targets[i];
            ok &= met;
            System.out.printf(Locale.ROOT, "%-36s %8.2f   %s  %s%n", names[i], median,
                    judged ? ">= " + targets[i] : "", judged ? (met ? "met" : "MISSED") : "(information)");
        }
        System.exit(ok ? 0 : 1);
    }
}
