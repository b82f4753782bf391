package dev.eventbus.jdbc;

import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * A relay target for tests: records what it accepted, can refuse chosen messages, hang, or acknowledge
 * asynchronously, and checks that no key is ever in flight from two senders at once. Several instances share one
 * {@link Shared} so that a test with several relays sees every send in one place.
 */
final class TestTarget implements Transport {

    /** What every instance sharing it saw. */
    static final class Shared {
        final List<Sent> accepted = Collections.synchronizedList(new ArrayList<>());
        final ConcurrentHashMap<String, String> keysInFlight = new ConcurrentHashMap<>();
        final AtomicInteger concurrentKeyViolations = new AtomicInteger();
        final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "test-target-ack");
            t.setDaemon(true);
            return t;
        });
    }

    record Sent(String target, TransportMessage message) {
        String body() {
            return new String(message.body(), java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    final String name;
    final Shared shared;
    final AtomicInteger attempts = new AtomicInteger();
    volatile Function<TransportMessage, RuntimeException> refuse = m -> null;
    volatile boolean hang;
    volatile long ackDelayMicros;
    /** How long to wait before acknowledging {@code m}, in microseconds (default: {@link #ackDelayMicros}). */
    volatile java.util.function.ToLongFunction<TransportMessage> ackDelay = m -> ackDelayMicros;

    TestTarget(String name, Shared shared) {
        this.name = name;
        this.shared = shared;
    }

    TestTarget(String name) {
        this(name, new Shared());
    }

    @Override
    public String name() {
        return "test";
    }

    @Override
    public Set<Capability> capabilities() {
        return Set.of();
    }

    @Override
    public CompletableFuture<Void> send(TransportMessage m) {
        attempts.incrementAndGet();
        if (hang) {
            return new CompletableFuture<>();
        }
        RuntimeException e = refuse.apply(m);
        if (e != null) {
            return CompletableFuture.failedFuture(e);
        }
        String key = m.key();
        String token = name + "@" + System.nanoTime();
        if (key != null && shared.keysInFlight.putIfAbsent(key, token) != null) {
            shared.concurrentKeyViolations.incrementAndGet();
        }
        shared.accepted.add(new Sent(name, m));
        long delay = ackDelay.applyAsLong(m);
        if (delay <= 0) {
            if (key != null) {
                shared.keysInFlight.remove(key, token);
            }
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> f = new CompletableFuture<>();
        shared.timer.schedule(() -> {
            if (key != null) {
                shared.keysInFlight.remove(key, token);
            }
            f.complete(null);
        }, delay, TimeUnit.MICROSECONDS);
        return f;
    }

    @Override
    public TransportSubscription subscribe(SubscriptionRequest request, MessageHandler handler) {
        throw new UnsupportedOperationException("a relay target only");
    }

    @Override
    public void close(Duration timeout) {
    }

    List<Sent> accepted() {
        synchronized (shared.accepted) {
            return new ArrayList<>(shared.accepted);
        }
    }
}
