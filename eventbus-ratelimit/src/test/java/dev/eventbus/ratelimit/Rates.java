package dev.eventbus.ratelimit;

import java.util.List;
import java.util.concurrent.TimeUnit;

/** Handling timestamps and the rates they show. */
final class Rates {

    private Rates() {
    }

    /** Handlings (nanoTime stamps) within [from, from + seconds), divided by seconds. */
    static double perSecond(List<Long> stamps, long from, double seconds) {
        long to = from + (long) (seconds * 1e9);
        long n = stamps.stream().filter(t -> t >= from && t < to).count();
        return n / seconds;
    }

    /** Rates per bucket of {@code bucket} seconds from {@code from}, for the report ("201 199 ..."). */
    static String buckets(List<Long> stamps, long from, int count, double bucket) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < count; i++) {
            sb.append(String.format(java.util.Locale.ROOT, "%.0f ", perSecond(stamps, from + seconds(i * bucket), bucket)));
        }
        return sb.toString().trim();
    }

    static long seconds(double s) {
        return (long) (s * TimeUnit.SECONDS.toNanos(1));
    }
}
