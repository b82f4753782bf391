package dev.eventbus;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;
import org.slf4j.Logger;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What happens when a subscriber throws: the {@link SubscriberExceptionHandler} is told, and the {@link RetryPolicy}
 * decides between an immediate retry, a delayed redelivery and a dead letter. Deliveries from a transport climb
 * that ladder in {@link GroupDispatcher}; local (in-memory) deliveries climb it here, handing delayed retries and
 * dead letters to the in-memory transport, where the transport path takes over. Thread-safe.
 */
final class FailureHandling {

    private static final Logger log = EventBus.log;
    private static final int STACK_LINES = 12;

    private final EventBus bus;
    private final RetryPolicy retry;
    private final Counters counters;
    private final Routes routes;
    private final Envelopes envelopes;
    private final ConsumeInterceptor[] consumeInterceptors;
    private final SubscriberExceptionHandler exceptionHandler;

    FailureHandling(EventBus bus, Counters counters, Routes routes, Envelopes envelopes, BusSetup setup) {
        this.bus = bus;
        this.retry = setup.retry;
        this.counters = counters;
        this.routes = routes;
        this.envelopes = envelopes;
        this.consumeInterceptors = setup.consumeInterceptors;
        this.exceptionHandler = setup.exceptionHandler != null ? setup.exceptionHandler
                : FailureHandling::logSubscriberException;
    }

    /**
     * A local subscriber failed on attempt 1: immediate retries here; after them, the event is handed to the
     * in-memory transport as a delayed redelivery for that subscriber's group, where the same path as for any
     * transport takes over (see {@link GroupDispatcher}); or it is dead-lettered.
     */
    void onLocalFailure(Subscriber s, Envelope<?> envelope, EventTypes.Info info, Throwable first) {
        onLocalFailure(s, envelope, info, first, Observers.NOT_TIMED); // the fast path reads no clock
    }

    /** @param start when the first attempt started, for observers ({@link Observers#start}) */
    void onLocalFailure(Subscriber s, Envelope<?> envelope, EventTypes.Info info, Throwable first, long start) {
        counters.delivered.decrement(); // the local path counted the call as delivered before making it
        Throwable failure = first;
        int attempt = 1;
        String firstFailure = Instant.now().toString();
        while (true) {
            counters.failures.increment();
            boolean retriable = retry.isRetriable(failure);
            boolean more = retriable && attempt < retry.maxAttempts();
            reportFailure(failure, envelope.withAttempt(attempt), s, attempt, more);
            Observers.handled(bus.observers, envelope.withAttempt(attempt), LocalDispatch.MEMORY, s,
                    more ? EventBusObserver.Handling.RETRY : EventBusObserver.Handling.DEAD, start, failure);
            if (!more) {
                String reason = retriable ? "gave up after " + attempt + " attempt" + (attempt == 1 ? "" : "s")
                        + causeOf(failure) : "fatal " + describe(failure) + " (not retried)";
                deadLetterLocal(s, envelope, info, failure, attempt, firstFailure, reason);
                return;
            }
            int next = attempt + 1;
            if (retry.isImmediate(next)) {
                attempt = next;
                try {
                    start = Observers.start(bus.observers);
                    ConsumeChain.invoke(consumeInterceptors, s, envelope.withAttempt(next));
                    counters.delivered.increment();
                    Observers.handled(bus.observers, envelope.withAttempt(next), LocalDispatch.MEMORY, s,
                            EventBusObserver.Handling.ACK, start, null);
                    return;
                } catch (Throwable t) {
                    failure = t;
                    continue;
                }
            }
            redeliverLocal(s, envelope, info, failure, attempt, firstFailure);
            return;
        }
    }

    /**
     * A local batch subscriber's event that failed alone (see {@link BatchLanes}), having used {@code attempts}:
     * a delayed redelivery through the in-memory transport (where it joins a later batch), or a dead letter.
     */
    void onLocalBatchFailure(Subscriber s, Envelope<?> envelope, EventTypes.Info info, Throwable failure,
                             int attempts) {
        counters.delivered.decrement(); // counted as delivered when it joined the batch
        counters.failures.increment();
        boolean retriable = retry.isRetriable(failure);
        boolean more = retriable && attempts < retry.maxAttempts();
        reportFailure(failure, envelope.withAttempt(attempts), s, attempts, more);
        Observers.handled(bus.observers, envelope.withAttempt(attempts), LocalDispatch.MEMORY, s,
                more ? EventBusObserver.Handling.RETRY : EventBusObserver.Handling.DEAD, Observers.NOT_TIMED, failure);
        String firstFailure = Instant.now().toString();
        if (!more) {
            String reason = (retriable ? "gave up after " + attempts + " attempt" + (attempts == 1 ? "" : "s")
                    + causeOf(failure) : "fatal " + describe(failure) + " (not retried)")
                    + " (the event failed alone, split out of its batch)";
            deadLetterLocal(s, envelope, info, failure, attempts, firstFailure, reason);
            return;
        }
        redeliverLocal(s, envelope, info, failure, attempts, firstFailure);
    }

    private void redeliverLocal(Subscriber s, Envelope<?> envelope, EventTypes.Info info, Throwable failure,
                                int attempt, String firstFailure) {
        int next = attempt + 1;
        Route route = routes.lookup(envelope.event().getClass());
        InMemoryTransport memory = route.local != null ? route.local : null;
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ATTEMPTS, Integer.toString(attempt));
        h.put(MessageHeaders.FIRST_FAILURE, firstFailure);
        h.put(MessageHeaders.PENDING_SUBSCRIBERS, s.id);
        TransportMessage m;
        try {
            m = envelopes.encode(envelope, info, PublishOptions.none()).withHeaders(h);
        } catch (RuntimeException e) {
            deadLetterLocal(s, envelope, info, failure, attempt, firstFailure,
                    "could not be serialized for a delayed retry: " + e.getMessage());
            return;
        }
        counters.retries.increment();
        memory.redeliver(s.group, m.withStream(envelope.stream() != null ? envelope.stream() : info.stream()),
                retry.delayBefore(next), 2);
    }

    private void deadLetterLocal(Subscriber s, Envelope<?> envelope, EventTypes.Info info, Throwable failure,
                                 int attempts, String firstFailure, String reason) {
        counters.deadLettered.increment();
        TransportMessage m;
        try {
            m = envelopes.encode(envelope, info, PublishOptions.none());
        } catch (RuntimeException e) {
            // Keep what can be kept: the metadata and the reason; the body is lost with the serializer's failure.
            m = TransportMessage.of(envelope.stream(), envelope.subject(), Envelopes.headersOf(envelope, info),
                    new byte[0]);
            reason = reason + "; the event could not be serialized: " + e.getMessage();
        }
        Map<String, String> h = failureHeaders(failure, attempts, firstFailure, reason, "local");
        h.put(MessageHeaders.PENDING_SUBSCRIBERS, s.id);
        Route route = routes.lookup(envelope.event().getClass());
        route.local.addDeadLetter(s.group, m.withHeaders(h), reason);
        log.warn("event {} ({}) dead-lettered for {} in group '{}': {}", envelope.id(), envelope.type(), s.id,
                s.group, reason);
    }

    /** Longest exception message copied into a dead letter's reason; the full one is in the failure headers. */
    static final int MAX_REASON_MESSAGE = 300;

    /** {@code ": <class>: <message>"} for a reason sentence, the message cut to {@link #MAX_REASON_MESSAGE}. */
    static String causeOf(Throwable t) {
        return t == null ? "" : ": " + describe(t);
    }

    /** The exception's class and message, the message truncated (a reason must stay a readable line). */
    static String describe(Throwable t) {
        String msg = t.getMessage();
        if (msg == null) {
            return t.getClass().getName();
        }
        msg = msg.replace('\n', ' ').replace('\r', ' ');
        if (msg.length() > MAX_REASON_MESSAGE) {
            msg = msg.substring(0, MAX_REASON_MESSAGE) + "... (" + msg.length() + " chars)";
        }
        return t.getClass().getName() + ": " + msg;
    }

    /** Tells the exception handler; a handler that throws is logged, never propagated. */
    void reportFailure(Throwable failure, Envelope<?> envelope, Subscriber s, int attempt, boolean willRetry) {
        try {
            exceptionHandler.handleException(failure, new SubscriberExceptionHandler.Context(bus, envelope, s.group,
                    s.id, s.target, s.method, attempt, willRetry));
        } catch (Throwable t) {
            log.error("the SubscriberExceptionHandler itself threw; ignored", t);
        }
    }

    private static void logSubscriberException(Throwable e, SubscriberExceptionHandler.Context c) {
        if (c.willRetry()) {
            log.warn("subscriber {} failed on event {} ({}), attempt {}; will retry: {}", c.subscriberId(),
                    c.envelope().id(), c.envelope().type(), c.attempt(), e.toString());
        } else {
            log.error("subscriber {} failed on event {} ({}), attempt {}; giving up", c.subscriberId(),
                    c.envelope().id(), c.envelope().type(), c.attempt(), e);
        }
    }

    /** Headers that tell an operator what failed, where, when and how often. */
    static Map<String, String> failureHeaders(Throwable failure, int attempts, String firstFailure, String reason,
                                              String origin) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.DLQ_REASON, reason);
        if (failure != null) {
            h.put(MessageHeaders.DLQ_EXCEPTION, failure.getClass().getName());
            h.put(MessageHeaders.DLQ_MESSAGE, String.valueOf(failure.getMessage()));
            h.put(MessageHeaders.DLQ_STACK, stackOf(failure));
        }
        h.put(MessageHeaders.ATTEMPTS, Integer.toString(attempts));
        if (firstFailure != null) {
            h.put(MessageHeaders.FIRST_FAILURE, firstFailure);
        }
        h.put(MessageHeaders.DLQ_ORIGIN, origin);
        h.put(MessageHeaders.DLQ_TIME, Instant.now().toString());
        return h;
    }

    private static String stackOf(Throwable t) {
        StringWriter w = new StringWriter();
        t.printStackTrace(new PrintWriter(w));
        String[] lines = w.toString().split("\n");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(STACK_LINES, lines.length); i++) {
            sb.append(lines[i].stripTrailing()).append('\n');
        }
        if (lines.length > STACK_LINES) {
            sb.append("\t... ").append(lines.length - STACK_LINES).append(" more lines");
        }
        return sb.toString();
    }
}
