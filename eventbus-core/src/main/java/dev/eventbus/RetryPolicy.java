package dev.eventbus;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * How often and how patiently a failing subscriber is retried before its event is dead-lettered.
 *
 * <p>Attempt 1 is the first invocation. The next {@link #immediateRetries()} attempts follow at once, in process;
 * after that each attempt is a delayed redelivery through the transport (so it survives a restart and does not
 * hold up the events behind it), waiting {@code initialDelay * multiplier^(n-1)}, capped at {@code maxDelay},
 * give or take {@code jitter} (a fraction). When {@link #maxAttempts()} attempts have failed, or an exception is
 * fatal, the event goes to the dead letters with the reason.
 *
 * <p>An exception is fatal when it is an instance of an {@code abortOn} class, or when {@code retryOn} classes are
 * given and it is an instance of none of them.
 *
 * <p>Defaults: 5 attempts, 2 immediate retries, 1 s initial delay, multiplier 2, max delay 5 min, jitter 0.2.
 * Immutable and thread-safe.
 */
public final class RetryPolicy {

    private static final RetryPolicy DEFAULTS = builder().build();

    private final int maxAttempts;
    private final int immediateRetries;
    private final Duration initialDelay;
    private final double multiplier;
    private final Duration maxDelay;
    private final double jitter;
    private final List<Class<? extends Throwable>> retryOn;
    private final List<Class<? extends Throwable>> abortOn;

    private RetryPolicy(Builder b) {
        this.maxAttempts = b.maxAttempts;
        this.immediateRetries = b.immediateRetries;
        this.initialDelay = b.initialDelay;
        this.multiplier = b.multiplier;
        this.maxDelay = b.maxDelay;
        this.jitter = b.jitter;
        this.retryOn = List.copyOf(b.retryOn);
        this.abortOn = List.copyOf(b.abortOn);
    }

    public static RetryPolicy defaults() {
        return DEFAULTS;
    }

    /** One attempt: any failure dead-letters the event at once. */
    public static RetryPolicy noRetries() {
        return builder().maxAttempts(1).immediateRetries(0).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public int maxAttempts() {
        return maxAttempts;
    }

    public int immediateRetries() {
        return immediateRetries;
    }

    public Duration initialDelay() {
        return initialDelay;
    }

    public double multiplier() {
        return multiplier;
    }

    public Duration maxDelay() {
        return maxDelay;
    }

    public double jitter() {
        return jitter;
    }

    /** True when {@code failure} may succeed if tried again (it is not fatal under this policy). */
    public boolean isRetriable(Throwable failure) {
        for (Class<? extends Throwable> c : abortOn) {
            if (c.isInstance(failure)) {
                return false;
            }
        }
        if (retryOn.isEmpty()) {
            return true;
        }
        for (Class<? extends Throwable> c : retryOn) {
            if (c.isInstance(failure)) {
                return true;
            }
        }
        return false;
    }

    /** True when attempt {@code attempt} (1-based) is to follow the previous one at once, in process. */
    public boolean isImmediate(int attempt) {
        return attempt >= 2 && attempt <= 1 + immediateRetries;
    }

    /**
     * The wait before attempt {@code attempt} when it is a delayed one: {@code initialDelay * multiplier^k} where
     * k counts the delayed attempts before it, capped and jittered.
     */
    public Duration delayBefore(int attempt) {
        int k = Math.max(0, attempt - 2 - immediateRetries);
        double base = initialDelay.toMillis() * Math.pow(multiplier, k);
        double capped = Math.min(base, maxDelay.toMillis());
        double spread = capped * jitter;
        double jittered = spread > 0 ? capped - spread + ThreadLocalRandom.current().nextDouble(2 * spread) : capped;
        return Duration.ofMillis(Math.max(0, Math.round(Math.min(jittered, maxDelay.toMillis()))));
    }

    @Override
    public String toString() {
        return "RetryPolicy{maxAttempts=" + maxAttempts + ", immediateRetries=" + immediateRetries + ", initialDelay="
                + initialDelay + ", multiplier=" + multiplier + ", maxDelay=" + maxDelay + ", jitter=" + jitter
                + ", retryOn=" + retryOn + ", abortOn=" + abortOn + '}';
    }

    /** Builds a {@link RetryPolicy}; validation happens in each setter. Not thread-safe. */
    public static final class Builder {
        private int maxAttempts = 5;
        private int immediateRetries = 2;
        private Duration initialDelay = Duration.ofSeconds(1);
        private double multiplier = 2.0;
        private Duration maxDelay = Duration.ofMinutes(5);
        private double jitter = 0.2;
        private final List<Class<? extends Throwable>> retryOn = new ArrayList<>();
        private final List<Class<? extends Throwable>> abortOn = new ArrayList<>();

        private Builder() {
        }

        /** Total invocations before giving up, at least 1. */
        public Builder maxAttempts(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxAttempts must be >= 1, was " + n);
            }
            this.maxAttempts = n;
            return this;
        }

        /** How many of the retries happen at once, in process, before delayed redelivery starts. */
        public Builder immediateRetries(int n) {
            if (n < 0) {
                throw new IllegalArgumentException("immediateRetries must be >= 0, was " + n);
            }
            this.immediateRetries = n;
            return this;
        }

        public Builder initialDelay(Duration d) {
            if (Objects.requireNonNull(d, "initialDelay").isNegative()) {
                throw new IllegalArgumentException("initialDelay must not be negative: " + d);
            }
            this.initialDelay = d;
            return this;
        }

        public Builder multiplier(double m) {
            if (!(m >= 1.0)) {
                throw new IllegalArgumentException("multiplier must be >= 1.0, was " + m);
            }
            this.multiplier = m;
            return this;
        }

        public Builder maxDelay(Duration d) {
            if (Objects.requireNonNull(d, "maxDelay").isNegative()) {
                throw new IllegalArgumentException("maxDelay must not be negative: " + d);
            }
            this.maxDelay = d;
            return this;
        }

        /** A fraction from 0 (none) to 1 by which each delay is randomly shortened or lengthened. */
        public Builder jitter(double j) {
            if (!(j >= 0 && j <= 1)) {
                throw new IllegalArgumentException("jitter must be between 0 and 1, was " + j);
            }
            this.jitter = j;
            return this;
        }

        /** Only these exceptions (and subclasses) are retried; others are fatal. */
        @SafeVarargs
        public final Builder retryOn(Class<? extends Throwable>... types) {
            retryOn.addAll(List.of(types));
            return this;
        }

        /** These exceptions (and subclasses) are fatal: dead-lettered at once. */
        @SafeVarargs
        public final Builder abortOn(Class<? extends Throwable>... types) {
            abortOn.addAll(List.of(types));
            return this;
        }

        public RetryPolicy build() {
            if (maxDelay.compareTo(initialDelay) < 0) {
                throw new IllegalArgumentException("maxDelay " + maxDelay + " is shorter than initialDelay " + initialDelay);
            }
            return new RetryPolicy(this);
        }
    }
}
