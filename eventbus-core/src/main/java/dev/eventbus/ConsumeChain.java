package dev.eventbus;

import dev.eventbus.internal.DuplicateCounter;

/**
 * The consume chain for one subscriber invocation: the bus's consume interceptors in order, then the subscriber
 * (OkHttp style: each link calls {@link #proceed()} at most once). One per invocation, on the invoking thread.
 */
final class ConsumeChain implements ConsumeInterceptor.Chain, DuplicateCounter {
    private final ConsumeInterceptor[] interceptors;
    private final Subscriber subscriber;
    private final Envelope<?> envelope;
    private final int index;
    private boolean proceeded;

    ConsumeChain(ConsumeInterceptor[] interceptors, Subscriber subscriber, Envelope<?> envelope) {
        this(interceptors, subscriber, envelope, 0);
    }

    private ConsumeChain(ConsumeInterceptor[] interceptors, Subscriber subscriber, Envelope<?> envelope, int index) {
        this.interceptors = interceptors;
        this.subscriber = subscriber;
        this.envelope = envelope;
        this.index = index;
    }

    /** Calls {@code s} with {@code envelope} through {@code interceptors} (directly when there are none). */
    static void invoke(ConsumeInterceptor[] interceptors, Subscriber s, Envelope<?> envelope) throws Throwable {
        if (interceptors.length == 0) {
            s.invoke(envelope.event(), envelope);
        } else {
            new ConsumeChain(interceptors, s, envelope).proceed();
        }
    }

    @Override
    public Envelope<?> envelope() {
        return envelope;
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
            interceptors[index].intercept(new ConsumeChain(interceptors, subscriber, envelope, index + 1));
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
