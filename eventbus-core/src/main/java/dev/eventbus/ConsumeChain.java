package dev.eventbus;

import dev.eventbus.internal.DuplicateCounter;

import java.util.Map;

/**
 * The consume chain for one subscriber invocation: the bus's consume interceptors in order, then the subscriber
 * (OkHttp style: each link calls {@link #proceed()} at most once). One per invocation, on the invoking thread.
 */
final class ConsumeChain implements ConsumeInterceptor.Chain, DuplicateCounter {
    private final ConsumeInterceptor[] interceptors;
    private final Subscriber subscriber;
    private final Envelope<?> envelope;
    private final int index;
    /** The transport's facts about the delivery ({@link dev.eventbus.spi.Delivery#attributes()}). */
    private final Map<String, String> attributes;
    private boolean proceeded;

    ConsumeChain(ConsumeInterceptor[] interceptors, Subscriber subscriber, Envelope<?> envelope) {
        this(interceptors, subscriber, envelope, 0, Map.of());
    }

    private ConsumeChain(ConsumeInterceptor[] interceptors, Subscriber subscriber, Envelope<?> envelope, int index,
                         Map<String, String> attributes) {
        this.interceptors = interceptors;
        this.subscriber = subscriber;
        this.envelope = envelope;
        this.index = index;
        this.attributes = attributes;
    }

    /** Calls {@code s} with {@code envelope} through {@code interceptors} (directly when there are none). */
    static void invoke(ConsumeInterceptor[] interceptors, Subscriber s, Envelope<?> envelope) throws Throwable {
        invoke(interceptors, s, envelope, Map.of());
    }

    /** As above, for a transport's delivery with its {@code attributes}. */
    static void invoke(ConsumeInterceptor[] interceptors, Subscriber s, Envelope<?> envelope,
                       Map<String, String> attributes) throws Throwable {
        // A batch subscriber is called later with a whole batch: interceptors wrap single events, so they do not
        // wrap it (an idempotency interceptor would otherwise record an event as handled when it only joined a batch).
        if (interceptors.length == 0 || s.isBatch()) {
            s.invoke(envelope.event(), envelope);
        } else {
            new ConsumeChain(interceptors, s, envelope, 0, attributes).proceed();
        }
    }

    @Override
    public Envelope<?> envelope() {
        return envelope;
    }

    @Override
    public Map<String, String> deliveryAttributes() {
        return attributes;
    }

    @Override
    public String group() {
        return subscriber.group;
    }

    @Override
    public String subscriberId() {
        return subscriber.id;
    }

    /** The idempotency interceptor's report ({@link DuplicateCounter#count}); counted on the subscriber's bus. */
    @Override
    public void countDuplicate() {
        if (subscriber.bus != null) {
            subscriber.bus.counters.duplicates.increment();
        }
    }

    @Override
    public void proceed() throws Exception {
        if (proceeded) {
            throw new IllegalStateException("consume interceptor called proceed() twice for " + subscriber.id);
        }
        proceeded = true;
        if (index < interceptors.length) {
            interceptors[index].intercept(new ConsumeChain(interceptors, subscriber, envelope, index + 1, attributes));
            return;
        }
        try {
            subscriber.invoke(envelope.event(), envelope);
        } catch (Exception | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new EventBusException("subscriber " + subscriber.id + " threw " + t, t);
        }
    }
}
