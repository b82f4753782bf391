package dev.eventbus.jdbc.internal.relay;

import dev.eventbus.jdbc.internal.Signal;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The sending step of a relay round: sends the claimed rows to the target, the rows of one key one after the
 * other (the next only once the target acknowledged the previous one, and not at all if it failed), other keys
 * concurrently, and waits for the answers until the round's deadline.
 *
 * <p>A send the target has not answered when its round ends is remembered: its row, and every later row of its
 * key, is not sent again until the answer comes (then the row counts as published) or a lease has passed (then it
 * is sent again: at least once). Resending at once would deliver it twice, and let the old send land after newer
 * rows of its key.
 *
 * <p>{@link #sendAll} runs on the relay thread; chained sends run on {@code sendExecutor}.
 */
public final class Sends {

    private static final Logger log = LoggerFactory.getLogger(Sends.class);

    private final Transport target;
    private final boolean targetDelays;
    private final ExecutorService sendExecutor;
    private final Signal signal;
    private final String relayId;
    private final long leaseMillis;
    private final BooleanSupplier halted;
    /** Relay thread only. */
    private final Map<Long, Unanswered> unanswered = new HashMap<>();

    private record Unanswered(String key, int partition, CompletableFuture<SendResult> answer, long since) {
    }

    /**
     * One round's sends. Its chained sends may start only while the round lasts: a send acknowledged after the
     * round ended must not set off the rest of its key's chain, since the next round sends those rows itself.
     */
    private static final class Round {
        /** No send may start after this (epoch ms): the send timeout, or the lease would be too close to expiring. */
        final long deadline;
        volatile boolean over;

        Round(long deadline) {
            this.deadline = deadline;
        }
    }

    /**
     * @param signal  signalled when an unanswered send gets its answer (its key may go on)
     * @param halted  true once the relay was halted (tests: a crash); nothing more is sent then
     */
    public Sends(Transport target, boolean targetDelays, ExecutorService sendExecutor, Signal signal, String relayId,
                 long leaseMillis, BooleanSupplier halted) {
        this.target = target;
        this.targetDelays = targetDelays;
        this.sendExecutor = sendExecutor;
        this.signal = signal;
        this.relayId = relayId;
        this.leaseMillis = leaseMillis;
        this.halted = halted;
    }

    /**
     * Sends {@code batch} and waits for the answers until {@code deadline} (epoch ms). Rows missing from the result
     * got no answer in time: they stay as they are (and are remembered as unanswered).
     */
    public Map<RelayRow, SendResult> sendAll(List<RelayRow> batch, long deadline, long now)
            throws InterruptedException {
        Round round = new Round(deadline);
        Map<RelayRow, CompletableFuture<SendResult>> futures = send(batch, round);
        Map<RelayRow, SendResult> results = await(futures, deadline);
        round.over = true;
        if (!halted.getAsBoolean()) {
            futures.forEach((row, f) -> {
                if (!results.containsKey(row)) {
                    unanswered.put(row.id, new Unanswered(row.key, row.keyHash, f, now));
                    f.whenComplete((v, e) -> signal.signal());
                }
            });
        }
        return results;
    }

    /** Whether an earlier round's send of row {@code id} is still unanswered. */
    public boolean isUnanswered(long id) {
        return unanswered.containsKey(id);
    }

    /** The keys with an unanswered send: none of their rows may go out yet. */
    public Set<String> unansweredKeys() {
        Set<String> keys = new HashSet<>();
        for (Unanswered u : unanswered.values()) {
            if (u.key() != null) {
                keys.add(u.key());
            }
        }
        return keys;
    }

    /** The partitions with an unanswered send: not to be handed over to another relay yet. */
    public Set<Integer> busyPartitions(int partitions) {
        Set<Integer> out = new HashSet<>();
        for (Unanswered u : unanswered.values()) {
            out.add(u.partition() % partitions);
        }
        return out;
    }

    /**
     * Collects the late answers: returns the rows acknowledged since their round ended (to be marked published).
     * A refused or skipped one is forgotten, to be sent again like any unfinished row; so is one unanswered for a
     * whole lease, so a target that never answers cannot hold a key forever.
     */
    public List<Long> lateAcknowledgements(long now) {
        List<Long> late = new java.util.ArrayList<>();
        for (Iterator<Map.Entry<Long, Unanswered>> it = unanswered.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Long, Unanswered> e = it.next();
            CompletableFuture<SendResult> f = e.getValue().answer();
            if (f.isDone()) {
                if (!f.isCompletedExceptionally() && f.join().kind() == SendResult.Kind.SENT) {
                    late.add(e.getKey());
                }
                it.remove();
            } else if (now - e.getValue().since() > leaseMillis) {
                log.warn("outbox relay {}: row {} got no answer from the target for {} ms; it will be sent again",
                        relayId, e.getKey(), now - e.getValue().since());
                it.remove();
            }
        }
        return late;
    }

    /**
     * Sends every row; rows of one key are chained (the next is sent only once the target acknowledged the
     * previous one, and skipped if it failed), other keys go concurrently.
     */
    private Map<RelayRow, CompletableFuture<SendResult>> send(List<RelayRow> batch, Round round) {
        Map<RelayRow, CompletableFuture<SendResult>> out = new HashMap<>(batch.size() * 2);
        Map<String, CompletableFuture<SendResult>> tails = new HashMap<>();
        for (RelayRow r : batch) {
            CompletableFuture<SendResult> f;
            CompletableFuture<SendResult> prev = r.key == null ? null : tails.get(r.key);
            if (prev == null) {
                f = attempt(r, round);
            } else if (prev.isDone()) {
                f = prev.join().kind() == SendResult.Kind.SENT ? attempt(r, round)
                        : CompletableFuture.completedFuture(SendResult.SKIPPED);
            } else {
                // Not on the target's callback thread: sending from there can deadlock some clients.
                f = prev.thenComposeAsync(p -> p.kind() == SendResult.Kind.SENT ? attempt(r, round)
                        : CompletableFuture.completedFuture(SendResult.SKIPPED), sendExecutor);
            }
            if (r.key != null) {
                tails.put(r.key, f);
            }
            out.put(r, f);
        }
        return out;
    }

    private CompletableFuture<SendResult> attempt(RelayRow r, Round round) {
        if (halted.getAsBoolean()) {
            return new CompletableFuture<>(); // a crashed relay sends nothing more
        }
        if (round.over || System.currentTimeMillis() >= round.deadline) {
            // Too late: our lease may be gone, or a later round owns the key now. Leave it pending.
            return CompletableFuture.completedFuture(SendResult.SKIPPED);
        }
        if (r.undecodable != null) {
            return CompletableFuture.completedFuture(
                    new SendResult(SendResult.Kind.FAILED, new IllegalArgumentException(r.undecodable)));
        }
        TransportMessage m = r.message;
        if (!targetDelays && m.deliverAt() != null) {
            m = m.withDeliverAt(null);
        }
        try {
            return target.send(m).handle((v, e) -> e == null ? SendResult.SENT
                    : new SendResult(SendResult.Kind.FAILED, unwrap(e)));
        } catch (RuntimeException e) {
            return CompletableFuture.completedFuture(new SendResult(SendResult.Kind.FAILED, e));
        }
    }

    private static Throwable unwrap(Throwable e) {
        while ((e instanceof java.util.concurrent.CompletionException
                || e instanceof java.util.concurrent.ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    private Map<RelayRow, SendResult> await(Map<RelayRow, CompletableFuture<SendResult>> futures, long deadline)
            throws InterruptedException {
        CompletableFuture<Void> all = CompletableFuture.allOf(futures.values().toArray(new CompletableFuture<?>[0]));
        while (!all.isDone() && !halted.getAsBoolean()) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                break;
            }
            try {
                all.get(Math.min(left, 50), TimeUnit.MILLISECONDS);
            } catch (java.util.concurrent.TimeoutException | java.util.concurrent.ExecutionException ignored) {
                // loop: check the deadline and whether we were halted
            }
        }
        Map<RelayRow, SendResult> out = new HashMap<>(futures.size() * 2);
        futures.forEach((row, f) -> {
            if (f.isDone() && !f.isCompletedExceptionally()) {
                out.put(row, f.join());
            }
        });
        return out;
    }
}
