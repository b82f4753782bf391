package dev.eventbus;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.concurrent.CompletableFuture;

/** Calls the {@link EventBusObserver}s of a bus, each guarded so a faulty one cannot break dispatch. */
final class Observers {

    private static final Logger log = LoggerFactory.getLogger(Observers.class);

    static final EventBusObserver[] NONE = {};
    /** The start time of an invocation that was not measured. */
    static final long NOT_TIMED = Long.MIN_VALUE;

    private Observers() {
    }

    /** A start time for an invocation: the clock only when someone observes. */
    static long start(EventBusObserver[] observers) {
        return observers.length == 0 ? NOT_TIMED : System.nanoTime();
    }

    static void handled(EventBusObserver[] observers, Envelope<?> envelope, String transport, Subscriber s,
                        EventBusObserver.Handling outcome, long start, Throwable failure) {
        if (observers.length == 0) {
            return;
        }
        long nanos = start == NOT_TIMED ? -1 : System.nanoTime() - start;
        for (EventBusObserver o : observers) {
            try {
                o.handled(envelope, transport, s.group, s.id, outcome, nanos, failure);
            } catch (Throwable t) {
                log.error("event bus observer {} threw; ignored", o, t);
            }
        }
    }

    /** Reports the publish when {@code sent} completes; returns {@code sent}. */
    static CompletableFuture<Void> published(EventBusObserver[] observers, Envelope<?> envelope, String transport,
                                             long start, CompletableFuture<Void> sent) {
        if (sent.isDone()) {
            Throwable failure = sent.isCompletedExceptionally() ? sent.handle((v, t) -> t).join() : null;
            report(observers, envelope, transport, System.nanoTime() - start, failure);
        } else {
            sent.whenComplete((v, t) -> report(observers, envelope, transport, System.nanoTime() - start, t));
        }
        return sent;
    }

    static void report(EventBusObserver[] observers, Envelope<?> envelope, String transport, long nanos,
                       Throwable failure) {
        if (failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null) {
            failure = failure.getCause();
        }
        for (EventBusObserver o : observers) {
            try {
                o.published(envelope, transport, nanos, failure);
            } catch (Throwable t) {
                log.error("event bus observer {} threw; ignored", o, t);
            }
        }
    }
}
