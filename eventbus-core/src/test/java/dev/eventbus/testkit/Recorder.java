package dev.eventbus.testkit;

import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.Outcome;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * A {@link MessageHandler} that records every delivery (with the time it arrived) and answers with a chosen
 * outcome. Thread-safe; {@link #awaitCount} waits without busy-spinning.
 */
public final class Recorder implements MessageHandler {

    /** One recorded delivery. */
    public record Received(Delivery delivery, long nanoTime, long epochMillis, String thread) {
        public String body() {
            return new String(delivery.message().body(), java.nio.charset.StandardCharsets.UTF_8);
        }

        public String key() {
            return delivery.message().key();
        }
    }

    private final List<Received> received = new ArrayList<>();
    private final Function<Delivery, Outcome> answer;

    public Recorder() {
        this(d -> Outcome.ack());
    }

    public Recorder(Function<Delivery, Outcome> answer) {
        this.answer = answer;
    }

    @Override
    public Outcome handle(Delivery delivery) {
        Received r = new Received(delivery, System.nanoTime(), System.currentTimeMillis(), Thread.currentThread().getName());
        synchronized (this) {
            received.add(r);
            notifyAll();
        }
        return answer.apply(delivery);
    }

    public synchronized List<Received> received() {
        return new ArrayList<>(received);
    }

    public synchronized int count() {
        return received.size();
    }

    public List<String> bodies() {
        List<String> out = new ArrayList<>();
        for (Received r : received()) {
            out.add(r.body());
        }
        return out;
    }

    /** Waits until at least {@code n} deliveries arrived; fails with what did arrive when the timeout passes. */
    public synchronized List<Received> awaitCount(int n, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (received.size() < n) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new AssertionError("expected at least " + n + " deliveries within " + timeout + " but got "
                        + received.size() + ": " + summary());
            }
            try {
                wait(Math.max(1, left / 1_000_000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
        return new ArrayList<>(received);
    }

    /** Waits {@code quiet} and returns what arrived, for asserting that nothing more comes. */
    public List<Received> after(Duration quiet) {
        try {
            Thread.sleep(quiet.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return received();
    }

    private String summary() {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < Math.min(received.size(), 20); i++) {
            sb.append(i == 0 ? "" : ", ").append(received.get(i).body());
        }
        return sb.append(received.size() > 20 ? ", ...]" : "]").toString();
    }
}
