package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;

/**
 * The delivering step of a subscription: runs the handler for each message on its key's lane (per-key order,
 * bounded concurrency) and records the outcome on the entry, for the poller to commit. A handler that throws
 * counts as not acknowledged. Thread-safe: called by the poller, runs on the lanes' threads.
 */
final class LogDispatcher {

    private static final Logger log = LoggerFactory.getLogger(LogSubscription.class);

    private final SubscriptionRequest request;
    private final MessageHandler handler;
    private final Lanes lanes;
    private final Signal signal;
    private final BooleanSupplier closing;
    /** Handlers running now: close waits for them. */
    final AtomicInteger active = new AtomicInteger();
    /** Retry rows whose handler finished, for the poller to settle. */
    final ConcurrentLinkedQueue<RetryEntry> retriesDone = new ConcurrentLinkedQueue<>();

    LogDispatcher(SubscriptionRequest request, MessageHandler handler, Lanes lanes, Signal signal,
                  BooleanSupplier closing) {
        this.request = request;
        this.handler = handler;
        this.lanes = lanes;
        this.signal = signal;
        this.closing = closing;
    }

    /** Whether the bus knows the type (see {@link dev.eventbus.spi.MessageHandler#knowsType}). */
    boolean knowsType(String type) {
        return handler.knowsType(type);
    }

    /** Tells the handler a row was skipped by the request's filter (push-down), for its count. */
    void filteredOut(dev.eventbus.spi.TransportMessage m) {
        handler.filteredOut(m);
    }

    /**
     * A batch group's message ({@link SubscriptionRequest#deferredOutcomes()}): the outcome may come later, and the
     * lane goes on meanwhile; the message counts as active (close waits for it) until {@code settled} has run.
     *
     * @return true: the caller must not count the handler as finished, the callback does
     */
    private boolean handleDeferred(Delivery d, java.util.function.Consumer<Outcome> settled) {
        java.util.concurrent.CompletableFuture<Outcome> f;
        try {
            f = handler.handleAsync(d);
            if (f == null) {
                throw new NullPointerException("handler returned a null future");
            }
        } catch (Throwable t) {
            f = java.util.concurrent.CompletableFuture.failedFuture(t);
        }
        f.whenComplete((o, t) -> {
            try {
                if (t != null) {
                    log.warn("handler for group '{}' on '{}' failed instead of returning an outcome; redelivering",
                            request.group(), request.stream(), t);
                }
                settled.accept(t == null ? o : null);
            } finally {
                active.decrementAndGet();
                signal.signal();
            }
        });
        return true;
    }

    /** Hands a log row to its key's lane; the poller learns the outcome through {@link LogEntry#done}. */
    void dispatch(LogEntry e) {
        lanes.submit(e.message.key(), () -> {
            active.incrementAndGet();
            boolean deferred = false;
            try {
                if (closing.getAsBoolean() || e.ignored) {
                    return; // never started: stays unacknowledged and is redelivered
                }
                if (request.deferredOutcomes()) {
                    deferred = handleDeferred(new Delivery(e.message.withoutBookkeeping(), 1, e.origin), o -> {
                        if (o == null) {
                            e.crashed = true;
                        } else {
                            e.outcome = o;
                        }
                        e.done = true;
                    });
                    return;
                }
                try {
                    // A log row is the main path: retries and replays come as retry rows, so bookkeeping
                    // headers on a log row can only be forged by whoever wrote it; they are dropped.
                    Outcome o = handler.handle(new Delivery(e.message.withoutBookkeeping(), 1, e.origin));
                    if (o == null) {
                        throw new NullPointerException("handler returned a null outcome");
                    }
                    e.outcome = o;
                } catch (Throwable t) {
                    log.warn("handler for group '{}' on '{}' threw instead of returning an outcome; redelivering",
                            request.group(), request.stream(), t);
                    e.crashed = true;
                }
                e.done = true;
            } finally {
                if (!deferred) {
                    active.decrementAndGet();
                    signal.signal();
                }
            }
        });
    }

    /** Hands a retry row to its key's lane; the poller finds it in {@link #retriesDone} when handled. */
    void dispatchRetry(RetryEntry r) {
        lanes.submit(r.message.key(), () -> {
            active.incrementAndGet();
            boolean deferred = false;
            try {
                if (closing.getAsBoolean() || r.ignored) {
                    return;
                }
                if (request.deferredOutcomes()) {
                    deferred = handleDeferred(new Delivery(r.message, r.attempt, r.origin), o -> {
                        if (o == null) {
                            r.crashed = true;
                        } else {
                            r.outcome = o;
                        }
                        retriesDone.add(r);
                    });
                    return;
                }
                try {
                    Outcome o = handler.handle(new Delivery(r.message, r.attempt, r.origin));
                    if (o == null) {
                        throw new NullPointerException("handler returned a null outcome");
                    }
                    r.outcome = o;
                } catch (Throwable t) {
                    log.warn("handler for group '{}' on '{}' threw instead of returning an outcome; redelivering",
                            request.group(), request.stream(), t);
                    r.crashed = true;
                }
                retriesDone.add(r);
            } finally {
                if (!deferred) {
                    active.decrementAndGet();
                    signal.signal();
                }
            }
        });
    }
}
