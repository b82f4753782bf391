package dev.eventbus;

import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.TransportMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * The bus's handler for one consumer group on one stream of a transport: the consuming half of the one path.
 *
 * <p>Checks the type header first (a type nobody in the group wants is acknowledged without decoding), decodes
 * only registered types (never a class named by the wire), rebuilds the envelope, then calls each subscriber of
 * the group through the consume interceptors, with the retry policy's immediate retries in process. It answers
 * the transport with one {@link Outcome}: ACK; RETRY after the policy's delay, naming in
 * {@link MessageHeaders#PENDING_SUBSCRIBERS} the subscribers that still have to succeed; or DEAD with the reason
 * and failure headers. Malformed messages (missing headers, bytes that do not parse, a newer schema version) are
 * DEAD at once, and the transport moves on.
 *
 * <p>Thread-safe: the transport may call it from several threads.
 */
final class GroupDispatcher implements MessageHandler {

    private static final Logger log = LoggerFactory.getLogger(GroupDispatcher.class);

    private final EventBus bus;
    private final String group;
    private final String stream;
    private final String transport;
    /** Bad input is dead-lettered and counted one by one, but logged at most once per 10 s per group. */
    private final RateLimitedLog badInput = new RateLimitedLog(log, 10_000);

    GroupDispatcher(EventBus bus, String group, String stream, String transport) {
        this.bus = bus;
        this.group = group;
        this.stream = stream;
        this.transport = transport;
    }

    @Override
    public boolean knowsType(String type) {
        return bus.types.byName(type) != null;
    }

    /** What a delivery that is acknowledged at once answers on the deferred path: shared, never completed again. */
    private static final CompletableFuture<Outcome> ACKED = CompletableFuture.completedFuture(Outcome.ack());

    @Override
    public Outcome handle(Delivery delivery) {
        Object r = dispatch(delivery);
        if (r instanceof Outcome o) {
            return o;
        }
        // A transport that decides outcomes synchronously, with a batch subscriber in the group: wait for the batch.
        @SuppressWarnings("unchecked")
        CompletableFuture<Outcome> f = (CompletableFuture<Outcome>) r;
        return f.join();
    }

    @Override
    public CompletableFuture<Outcome> handleAsync(Delivery delivery) {
        Object r = dispatch(delivery);
        if (r instanceof Outcome o) {
            return o == Outcome.ack() ? ACKED : CompletableFuture.completedFuture(o);
        }
        @SuppressWarnings("unchecked")
        CompletableFuture<Outcome> f = (CompletableFuture<Outcome>) r;
        return f;
    }

    @Override
    public void filteredOut(TransportMessage message) {
        bus.counters.filtered.increment();
    }

    /** The outcome, or a future of it when a batch subscriber holds the event. */
    private Object dispatch(Delivery delivery) {
        TransportMessage m = delivery.message();
        // One pass over the headers (a map lookup per attribute profiled as a visible cost per message).
        Headers in = new Headers(m);
        String type = in.type;
        if (type == null) {
            return malformed(delivery, "missing header '" + MessageHeaders.TYPE + "' (CloudEvents type)", null);
        }
        if (in.id == null) {
            return malformed(delivery, "missing header '" + MessageHeaders.ID + "' (CloudEvents id)", null);
        }
        EventTypes.Info info = bus.types.byName(type);
        if (info == null) {
            bus.counters.unknownTypes.increment();
            if (bus.unknownTypes == UnknownTypePolicy.IGNORE) {
                log.debug("group '{}' ignored event {} of unknown type '{}'", group, in.id, type);
                return Outcome.ack();
            }
            return malformed(delivery, "unknown event type '" + type + "': no class is registered for it on bus '"
                    + bus.serviceName() + "' (annotate the class with @EventType(name = \"" + type
                    + "\") and subscribe to it, or register it with EventBus.Builder.eventType)", null);
        }
        Subscriber[] subscribers = bus.registry.forClassInGroup(info.type(), group);
        if (in.pending != null && subscribers.length > 0) {
            Set<String> ids = Set.of(in.pending.split(MessageHeaders.PENDING_SEPARATOR));
            subscribers = java.util.Arrays.stream(subscribers).filter(s -> ids.contains(s.id)).toArray(Subscriber[]::new);
        }
        if (subscribers.length == 0) {
            bus.counters.skipped.increment();
            return Outcome.ack();
        }
        int batchSubscribers = 0;
        boolean filters = false;
        for (Subscriber s : subscribers) {
            batchSubscribers += s.isBatch() ? 1 : 0;
            filters |= s.filter != null;
        }
        if (filters) {
            // Before decoding: a subscriber whose filter rejects the headers is not called, and the body of an
            // event no subscriber wants is never read.
            subscribers = java.util.Arrays.stream(subscribers).filter(s -> s.filter == null || s.filter.matches(m))
                    .toArray(Subscriber[]::new);
            if (subscribers.length == 0) {
                bus.counters.filtered.increment();
                return Outcome.ack();
            }
            batchSubscribers = 0;
            for (Subscriber s : subscribers) {
                batchSubscribers += s.isBatch() ? 1 : 0;
            }
        }
        int version = 1;
        if (in.version != null) {
            try {
                version = Integer.parseInt(in.version.trim());
            } catch (NumberFormatException e) {
                return malformed(delivery, "header '" + MessageHeaders.SCHEMA_VERSION + "' is not a number: '"
                        + in.version + "'", e);
            }
        }
        if (version > info.version()) {
            return malformed(delivery, "event type '" + type + "' arrived at schema version " + version
                    + ", newer than version " + info.version() + " known to " + info.type().getName(), null);
        }
        Object event;
        try {
            event = bus.envelopes.serializerFor(info).deserialize(m.body(), info.type(), type, version);
            if (event == null) {
                throw new Serializer.SerializationException("the body decoded to null", null);
            }
        } catch (BeanValidation.InvalidEventException e) {
            return malformed(delivery, "invalid '" + type + "' (" + info.type().getName() + "), constraint "
                    + "violations: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            return malformed(delivery, "cannot decode the body of '" + type + "' as " + info.type().getName() + ": "
                    + e.getMessage(), e);
        }
        int attemptsSoFar = parseAttempts(in.attempts);
        Envelope<Object> envelope = in.envelope(m, info, event, attemptsSoFar + 1);
        String firstFailure = in.firstFailure;

        List<String> retrying = null; // allocated on the first failure: most deliveries have none
        List<String> dead = null;
        Duration delay = null;
        int maxAttempt = attemptsSoFar;
        Throwable deadCause = null;
        String deadReason = null;
        Throwable retryCause = null;
        DispatchContext ctx = DispatchContext.current();
        ctx.push(envelope);
        EventBusObserver[] obs = bus.observers;
        try {
            for (Subscriber s : subscribers) {
                if (batchSubscribers != 0 && s.isBatch()) {
                    continue; // offered below, after the others
                }
                int attempt = attemptsSoFar + 1;
                if (!RateGate.await(bus, s)) {
                    throw RateGate.leftToBroker(group);
                }
                while (true) {
                    long start = Observers.start(obs);
                    try {
                        ConsumeChain.invoke(bus.consumeInterceptors, s, envelope.withAttempt(attempt),
                                delivery.attributes());
                        bus.counters.delivered.increment();
                        Observers.handled(obs, envelope.withAttempt(attempt), transport, s,
                                EventBusObserver.Handling.ACK, start, null);
                        break;
                    } catch (Throwable t) {
                        bus.counters.failures.increment();
                        if (firstFailure == null) {
                            firstFailure = Instant.now().toString();
                        }
                        boolean retriable = bus.retry.isRetriable(t);
                        boolean more = retriable && attempt < bus.retry.maxAttempts();
                        bus.failures.reportFailure(t, envelope.withAttempt(attempt), s, attempt, more);
                        Observers.handled(obs, envelope.withAttempt(attempt), transport, s,
                                more ? EventBusObserver.Handling.RETRY : EventBusObserver.Handling.DEAD, start, t);
                        maxAttempt = Math.max(maxAttempt, attempt);
                        if (!more) {
                            if (dead == null) {
                                dead = new ArrayList<>(2);
                            }
                            dead.add(s.id);
                            if (deadCause == null) {
                                deadCause = t;
                                deadReason = retriable
                                        ? s.id + " gave up after " + attempt + " attempt" + (attempt == 1 ? "" : "s")
                                                + FailureHandling.causeOf(t)
                                        : s.id + " threw fatal " + FailureHandling.describe(t) + " (not retried)";
                            }
                            break;
                        }
                        if (bus.retry.isImmediate(attempt + 1)) {
                            attempt++;
                            continue;
                        }
                        if (retrying == null) {
                            retrying = new ArrayList<>(2);
                        }
                        retrying.add(s.id);
                        retryCause = t;
                        Duration d = bus.retry.delayBefore(attempt + 1);
                        delay = delay == null || d.compareTo(delay) < 0 ? d : delay;
                        break;
                    }
                }
            }
        } finally {
            ctx.pop();
        }
        if (batchSubscribers != 0) {
            Pending p = new Pending(delivery, type, envelope, batchSubscribers, retrying, dead, delay, maxAttempt,
                    deadCause, deadReason, retryCause, firstFailure);
            for (Subscriber s : subscribers) {
                if (s.isBatch()) {
                    s.batches.offer(p.itemFor(s));
                }
            }
            return p.future;
        }
        return outcome(delivery, type, retrying, dead, delay, maxAttempt, deadCause, deadReason, retryCause,
                firstFailure);
    }

    /** The one outcome of a delivery, from what its subscribers did. */
    private Outcome outcome(Delivery delivery, String type, List<String> retrying, List<String> dead, Duration delay,
                            int maxAttempt, Throwable deadCause, String deadReason, Throwable retryCause,
                            String firstFailure) {
        TransportMessage m = delivery.message();
        if (dead != null) {
            bus.counters.deadLettered.increment();
            List<String> failed = new ArrayList<>(dead);
            if (retrying != null) {
                failed.addAll(retrying);
            }
            Map<String, String> h = FailureHandling.failureHeaders(deadCause, maxAttempt, firstFailure, deadReason,
                    delivery.origin());
            h.put(MessageHeaders.PENDING_SUBSCRIBERS, String.join(MessageHeaders.PENDING_SEPARATOR, failed));
            log.warn("group '{}' dead-lettered event {} ({}): {}", group, m.id(), type, deadReason);
            return Outcome.dead(deadReason, deadCause, h);
        }
        if (retrying != null) {
            bus.counters.retries.increment();
            Map<String, String> h = new LinkedHashMap<>();
            h.put(MessageHeaders.ATTEMPTS, Integer.toString(maxAttempt));
            h.put(MessageHeaders.FIRST_FAILURE, firstFailure);
            h.put(MessageHeaders.PENDING_SUBSCRIBERS, String.join(MessageHeaders.PENDING_SEPARATOR, retrying));
            return Outcome.retry(delay, retryCause, h);
        }
        return Outcome.ack();
    }

    private Outcome malformed(Delivery delivery, String reason, Throwable cause) {
        bus.counters.deadLettered.increment();
        badInput.warn("group '{}' on '{}' dead-lettered message {} from {}: {}", group, stream,
                delivery.message().id(), delivery.origin(), reason);
        Map<String, String> h = FailureHandling.failureHeaders(cause, parseAttempts(
                delivery.message().header(MessageHeaders.ATTEMPTS)), null, reason, delivery.origin());
        return Outcome.dead(reason, cause, h);
    }

    private static int parseAttempts(String s) {
        if (s == null) {
            return 0;
        }
        try {
            return Math.max(0, Integer.parseInt(s.trim()));
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    /**
     * A delivery waiting for its batch subscribers: what the group's other subscribers did, and each batch
     * subscriber's result as its batch reports it; the outcome when the last one has.
     */
    private final class Pending {
        final Delivery delivery;
        final String type;
        final Envelope<Object> envelope;
        final CompletableFuture<Outcome> future = new CompletableFuture<>();
        private int remaining;
        private boolean abandoned;
        private List<String> retrying;
        private List<String> dead;
        private Duration delay;
        private int maxAttempt;
        private Throwable deadCause;
        private String deadReason;
        private Throwable retryCause;
        private String firstFailure;

        Pending(Delivery delivery, String type, Envelope<Object> envelope, int remaining, List<String> retrying,
                List<String> dead, Duration delay, int maxAttempt, Throwable deadCause, String deadReason,
                Throwable retryCause, String firstFailure) {
            this.delivery = delivery;
            this.type = type;
            this.envelope = envelope;
            this.remaining = remaining;
            this.retrying = retrying;
            this.dead = dead;
            this.delay = delay;
            this.maxAttempt = maxAttempt;
            this.deadCause = deadCause;
            this.deadReason = deadReason;
            this.retryCause = retryCause;
            this.firstFailure = firstFailure;
        }

        BatchLanes.Item itemFor(Subscriber s) {
            return new BatchLanes.Item(envelope, envelope.attempt()) {
                @Override
                void finished(Throwable failure, int attempts) {
                    batchFinished(s, failure, attempts);
                }

                @Override
                void abandoned() {
                    batchAbandoned();
                }
            };
        }

        void batchFinished(Subscriber s, Throwable t, int attempts) {
            EventBusObserver[] obs = bus.observers;
            if (t == null) {
                bus.counters.delivered.increment();
                Observers.handled(obs, envelope, transport, s, EventBusObserver.Handling.ACK, Observers.NOT_TIMED, null);
                done();
                return;
            }
            bus.counters.failures.increment();
            boolean retriable = bus.retry.isRetriable(t);
            boolean more = retriable && attempts < bus.retry.maxAttempts();
            bus.failures.reportFailure(t, envelope.withAttempt(attempts), s, attempts, more);
            Observers.handled(obs, envelope.withAttempt(attempts), transport, s,
                    more ? EventBusObserver.Handling.RETRY : EventBusObserver.Handling.DEAD, Observers.NOT_TIMED, t);
            synchronized (this) {
                if (firstFailure == null) {
                    firstFailure = Instant.now().toString();
                }
                maxAttempt = Math.max(maxAttempt, attempts);
                if (!more) {
                    if (dead == null) {
                        dead = new ArrayList<>(2);
                    }
                    dead.add(s.id);
                    if (deadCause == null) {
                        deadCause = t;
                        deadReason = (retriable
                                ? s.id + " gave up after " + attempts + " attempt" + (attempts == 1 ? "" : "s")
                                        + FailureHandling.causeOf(t)
                                : s.id + " threw fatal " + FailureHandling.describe(t) + " (not retried)")
                                + " (the event failed alone, split out of its batch)";
                    }
                } else {
                    if (retrying == null) {
                        retrying = new ArrayList<>(2);
                    }
                    retrying.add(s.id);
                    retryCause = t;
                    Duration d = bus.retry.delayBefore(attempts + 1);
                    delay = delay == null || d.compareTo(delay) < 0 ? d : delay;
                }
            }
            done();
        }

        void batchAbandoned() {
            synchronized (this) {
                abandoned = true;
            }
            done();
        }

        private void done() {
            Outcome o;
            synchronized (this) {
                if (--remaining > 0) {
                    return;
                }
                if (abandoned) {
                    o = null;
                } else {
                    o = outcome(delivery, type, retrying, dead, delay, maxAttempt, deadCause, deadReason, retryCause,
                            firstFailure);
                }
            }
            if (o == null) {
                // Never handed to its batch subscriber (the bus is closing): not acknowledged, so redelivered.
                future.completeExceptionally(new EventBusException("event " + envelope.id() + " was not handled: its "
                        + "batch subscriber closed before the batch was handed over", null, true));
            } else {
                future.complete(o);
            }
        }
    }

    /** The headers this dispatcher reads, collected in one pass; everything else is an extension. */
    private static final class Headers implements java.util.function.BiConsumer<String, String> {
        String id;
        String type;
        String source;
        String time;
        String subject;
        String contentType;
        String correlation;
        String causation;
        String traceparent;
        String version;
        String attempts;
        String firstFailure;
        String pending;
        Map<String, String> extensions;

        Headers(TransportMessage m) {
            m.headers().forEach(this); // forEach: the transports' header maps visit without an entry per header
        }

        @Override
        public void accept(String name, String v) {
            switch (name) {
                case MessageHeaders.ID:
                    id = v;
                    break;
                case MessageHeaders.TYPE:
                    type = v;
                    break;
                case MessageHeaders.SOURCE:
                    source = v;
                    break;
                case MessageHeaders.TIME:
                    time = v;
                    break;
                case MessageHeaders.SUBJECT:
                    subject = v;
                    break;
                case MessageHeaders.DATACONTENTTYPE:
                    contentType = v;
                    break;
                case MessageHeaders.CORRELATION_ID:
                    correlation = v;
                    break;
                case MessageHeaders.CAUSATION_ID:
                    causation = v;
                    break;
                case MessageHeaders.TRACEPARENT:
                    traceparent = v;
                    break;
                case MessageHeaders.SCHEMA_VERSION:
                    version = v;
                    break;
                case MessageHeaders.ATTEMPTS:
                    attempts = v;
                    break;
                case MessageHeaders.FIRST_FAILURE:
                    firstFailure = v;
                    break;
                case MessageHeaders.PENDING_SUBSCRIBERS:
                    pending = v;
                    break;
                case MessageHeaders.SPECVERSION:
                case MessageHeaders.DATASCHEMA:
                    break;
                default:
                    if (!name.startsWith("eventbus-")) {
                        if (extensions == null) {
                            extensions = new HashMap<>();
                        }
                        extensions.put(name, v);
                    }
            }
        }

        Envelope<Object> envelope(TransportMessage m, EventTypes.Info info, Object event, int attempt) {
            // Parsed lazily; a foreign producer's odd timestamp is no reason to drop the event (time() is null then).
            // The subject is the event's own attribute only: a transport key (a Kafka record key) is not a subject.
            return new Envelope<>(id, type, info.version(), source, time,
                    subject, contentType, correlation, causation, traceparent,
                    extensions, m.stream(), attempt, event);
        }
    }
}
