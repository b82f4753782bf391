package dev.eventbus.benchmarks.core;

import org.openjdk.jmh.infra.Blackhole;

/**
 * The subscribers of the synchronous benchmark: four distinct classes (as four real subscribers would be), each with
 * one method that the hand-written loop calls through {@link Listener}, Guava finds by its {@code @Subscribe} and the
 * event bus finds by its own {@code @Subscribe}: the same body for all three contenders. The body hands the event to
 * JMH's {@link Blackhole}, so nothing is dead-code eliminated. Guava's methods carry {@code @AllowConcurrentEvents}, so
 * Guava calls them without its per-subscriber lock: its fastest setting, the strictest anchor.
 */
final class SyncSubscribers {

    private SyncSubscribers() {
    }

    /** What the hand-written anchor calls. */
    interface Listener {
        void on(OrderPlaced e);
    }

    /** {@code n} subscribers of distinct classes (n = 1..4). */
    static Listener[] distinct(int n, Blackhole bh) {
        Listener[] all = {new S1(bh), new S2(bh), new S3(bh), new S4(bh)};
        if (n < 1 || n > all.length) {
            throw new IllegalArgumentException("subscribers must be 1..4, was " + n);
        }
        return java.util.Arrays.copyOf(all, n);
    }

    /** {@code n} instances of one class: the friendliest case for the hand loop (a monomorphic call site). */
    static Listener[] sameClass(int n, Blackhole bh) {
        Listener[] out = new Listener[n];
        for (int i = 0; i < n; i++) {
            out[i] = new S1(bh);
        }
        return out;
    }

    public static final class S1 implements Listener {
        private final Blackhole bh;

        S1(Blackhole bh) {
            this.bh = bh;
        }

        @Override
        @com.google.common.eventbus.Subscribe
        @com.google.common.eventbus.AllowConcurrentEvents
        @dev.eventbus.Subscribe
        public void on(OrderPlaced e) {
            bh.consume(e);
        }
    }

    public static final class S2 implements Listener {
        private final Blackhole bh;

        S2(Blackhole bh) {
            this.bh = bh;
        }

        @Override
        @com.google.common.eventbus.Subscribe
        @com.google.common.eventbus.AllowConcurrentEvents
        @dev.eventbus.Subscribe
        public void on(OrderPlaced e) {
            bh.consume(e);
        }
    }

    public static final class S3 implements Listener {
        private final Blackhole bh;

        S3(Blackhole bh) {
            this.bh = bh;
        }

        @Override
        @com.google.common.eventbus.Subscribe
        @com.google.common.eventbus.AllowConcurrentEvents
        @dev.eventbus.Subscribe
        public void on(OrderPlaced e) {
            bh.consume(e);
        }
    }

    public static final class S4 implements Listener {
        private final Blackhole bh;

        S4(Blackhole bh) {
            this.bh = bh;
        }

        @Override
        @com.google.common.eventbus.Subscribe
        @com.google.common.eventbus.AllowConcurrentEvents
        @dev.eventbus.Subscribe
        public void on(OrderPlaced e) {
            bh.consume(e);
        }
    }
}
