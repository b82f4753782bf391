package dev.eventbus;

import java.io.IOException;
import java.io.InputStream;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Calls the subscribers of one event class, in order, on the synchronous in-memory path: each in its own
 * try/catch, so a failure goes to the bus's retry and dead-letter handling and the next subscriber still runs.
 * Built once per subscriber list (again after a registration changes it); immutable and thread-safe.
 *
 * <p>{@link #of} defines a hidden class from the bytes of {@link DispatcherTemplate} for each list (no bytecode is
 * generated: the same bytes, a new class), so that every event class's dispatcher has its own call sites and JIT
 * profile: with one call site per subscriber, the JIT inlines each subscriber where it is monomorphic, which a
 * shared loop over an array can never do once it has seen more than two subscriber classes. Where hidden classes
 * cannot be defined, the template itself is used (same behaviour, shared profile).
 */
abstract class Dispatcher {

    private static final MethodHandles.Lookup LOOKUP = MethodHandles.lookup();
    private static final byte[] TEMPLATE = templateBytes();
    private static final MethodType CONSTRUCTOR = MethodType.methodType(void.class, Subscriber[].class, int.class);

    /** The number of subscribers. */
    final int count;
    /** The registry version the subscriber list was built for: while it is current, so is this dispatcher. */
    final int version;

    Dispatcher(int count, int version) {
        this.count = count;
        this.version = version;
    }

    /**
     * Calls every subscriber with {@code event}. {@code frame} is the event's open frame in {@code ctx}, from which
     * a subscriber taking the envelope, or a failure, gets the envelope.
     */
    abstract void dispatch(Object event, DispatchContext ctx, int frame);

    /**
     * A dispatcher for {@code subscribers} (not copied; do not modify), the list of registry version
     * {@code version}. An empty list gets the template itself: it is never dispatched (publishing finds a dead event).
     */
    static Dispatcher of(Subscriber[] subscribers, int version) {
        return of(subscribers, version, true);
    }

    /**
     * {@link #of(Subscriber[], int)}, with {@code ownClass} false for the shared template class instead of a new
     * hidden class: for an event class whose subscribers keep changing, where defining a class per change would
     * cost more than it saves.
     */
    static Dispatcher of(Subscriber[] subscribers, int version, boolean ownClass) {
        if (ownClass && TEMPLATE != null && subscribers.length > 0) {
            try {
                MethodHandles.Lookup hidden = LOOKUP.defineHiddenClass(TEMPLATE, true);
                MethodHandle ctor = hidden.findConstructor(hidden.lookupClass(), CONSTRUCTOR);
                return (Dispatcher) ctor.invoke(subscribers, version);
            } catch (Throwable refused) {
                // A restricted runtime: fall back to the shared template class below.
            }
        }
        return new DispatcherTemplate(subscribers, version);
    }

    /** One subscriber, with the failure handling. */
    static void call(Subscriber s, Object event, DispatchContext ctx, int frame) {
        try {
            s.fast.invoke(event);
        } catch (Throwable t) {
            failed(s, event, ctx, frame, t);
        }
    }

    /** A subscriber threw: retries, dead letters and the exception handler of its bus take over. */
    static void failed(Subscriber s, Object event, DispatchContext ctx, int frame, Throwable t) {
        EventBus bus = s.bus;
        bus.failures.onLocalFailure(s, ctx.envelopeAt(frame, bus, event), bus.infoOf(event.getClass()), t);
    }

    private static byte[] templateBytes() {
        try (InputStream in = Dispatcher.class.getResourceAsStream("DispatcherTemplate.class")) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
