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

    /**
     * Runs the chain's send listeners and reports the publish to the observers when {@code sent} completes, in one
     * completion stage. Returns {@code sent} when there is no listener (the observers' report may follow the
     * caller's callbacks); with listeners, the stage's future, so they have run before the publish's future
     * completes (a span is ended when the caller sees the publish done).
     */
    static CompletableFuture<Void> published(EventBusObserver[] observers, Envelope<?> envelope, String transport,
                                             long start, CompletableFuture<Void> sent, Publisher.PublishChain chain) {
        boolean listeners = chain != null && chain.listener != null;
        if (sent.isDone()) {
            Throwable failure = sent.isCompletedExceptionally() ? sent.handle((v, t) -> t).join() : null;
            completed(observers, envelope, transport, start, listeners ? chain : null, failure);
            return sent;
        }
        if (!listeners) {
            sent.whenComplete((v, t) -> report(observers, envelope, transport, System.nanoTime() - start, t));
            return sent;
        }
        return sent.whenComplete((v, t) -> completed(observers, envelope, transport, start, chain, t));
    }

    private static void completed(EventBusObserver[] observers, Envelope<?> envelope, String transport, long start,
                                  Publisher.PublishChain chain, Throwable failure) {
        if (chain != null) {
            Throwable cause = failure instanceof java.util.concurrent.CompletionException && failure.getCause() != null
                    ? failure.getCause() : failure;
            sent(chain.listener, cause);
            if (chain.more != null) {
                for (PublishInterceptor.SendListener l : chain.more) {
                    sent(l, cause);
                }
            }
        }
        if (observers.length != 0) {
            report(observers, envelope, transport, System.nanoTime() - start, failure);
        }
    }

    private static void sent(PublishInterceptor.SendListener l, Throwable failure) {
        try {
            l.sent(failure);
        } catch (Throwable t) {
            log.error("publish listener {} threw; ignored", l, t);
        }
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
