package dev.eventbus.fault;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** What every case shares: its figures line on stdout, waits, percentiles, unique names. */
final class Figures {

    private Figures() {
    }

    /**
     * Prints one labelled line, {@code [fault-figures] <case> | name=value, ...}, with the load average, so a
     * build log can be grepped for the suite's figures.
     */
    static void print(String caseName, Object... namesAndValues) {
        StringBuilder b = new StringBuilder("[fault-figures] ").append(caseName).append(" |");
        for (int i = 0; i + 1 < namesAndValues.length; i += 2) {
            b.append(' ').append(namesAndValues[i]).append('=').append(namesAndValues[i + 1]).append(',');
        }
        b.append(String.format(Locale.ROOT, " load=%.1f",
                ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));
        System.out.println(b);
        System.out.flush();
    }

    /** Polls until {@code done} holds; fails with {@code what} and the current state after {@code timeout}. */
    static void await(String what, Duration timeout, BooleanSupplier done, Supplier<Object> state) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() - deadline > 0) {
                throw new AssertionError("timed out after " + timeout + " waiting until " + what + "; state: "
                        + state.get());
            }
            sleep(20);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** The p-th percentile (0..100) of {@code values} in milliseconds, nearest-rank. */
    static double percentileMillis(List<Long> nanos, double p) {
        if (nanos.isEmpty()) {
            return Double.NaN;
        }
        List<Long> sorted = new ArrayList<>(nanos);
        Collections.sort(sorted);
        int rank = (int) Math.ceil(p / 100.0 * sorted.size());
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, rank - 1))) / 1e6;
    }

    static String ms(double millis) {
        return String.format(Locale.ROOT, "%.1fms", millis);
    }

    /** A name no other test, run or helper uses: {@code base-1a2b3c4d}. */
    static String unique(String base) {
        return base + "-" + UUID.randomUUID().toString().substring(0, 8);
    }
}
