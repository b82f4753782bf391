package dev.eventbus;

import dev.eventbus.internal.Invokers;

/**
 * The template of the per-class dispatchers (see {@link Dispatcher#of}): up to 6 subscribers in fields, each
 * called at its own call site, the rest in a loop. {@link Dispatcher} defines a hidden class from this class's
 * bytes for every subscriber list, so each event class gets call sites of its own: the JIT profiles them per class,
 * inlines each subscriber where it sees one receiver (like hand-written code calling it directly) and compiles away
 * the slots the list does not fill. Immutable.
 *
 * <p>Keep {@link #dispatch} under 325 bytes of bytecode (HotSpot's {@code FreqInlineSize}), or it is not inlined
 * into the publish and every publish pays a call. Not referenced by name anywhere but in {@link Dispatcher}; add
 * no nested classes or lambdas (a hidden class copy could not reach them).
 */
final class DispatcherTemplate extends Dispatcher {

    private final Subscriber s0;
    private final Invokers.OneArg i0;
    private final Subscriber s1;
    private final Invokers.OneArg i1;
    private final Subscriber s2;
    private final Invokers.OneArg i2;
    private final Subscriber s3;
    private final Invokers.OneArg i3;
    private final Subscriber s4;
    private final Invokers.OneArg i4;
    private final Subscriber s5;
    private final Invokers.OneArg i5;
    private final Subscriber[] rest;

    DispatcherTemplate(Subscriber[] subscribers, int version) {
        super(subscribers.length, version);
        int n = subscribers.length;
        s0 = n > 0 ? subscribers[0] : null;
        i0 = n > 0 ? subscribers[0].fast : null;
        s1 = n > 1 ? subscribers[1] : null;
        i1 = n > 1 ? subscribers[1].fast : null;
        s2 = n > 2 ? subscribers[2] : null;
        i2 = n > 2 ? subscribers[2].fast : null;
        s3 = n > 3 ? subscribers[3] : null;
        i3 = n > 3 ? subscribers[3].fast : null;
        s4 = n > 4 ? subscribers[4] : null;
        i4 = n > 4 ? subscribers[4].fast : null;
        s5 = n > 5 ? subscribers[5] : null;
        i5 = n > 5 ? subscribers[5].fast : null;
        rest = n > 6 ? java.util.Arrays.copyOfRange(subscribers, 6, n) : null;
    }

    @Override
    void dispatch(Object event, DispatchContext ctx, int frame) {
        Invokers.OneArg i0 = this.i0;
        if (i0 == null) {
            return;
        }
        try {
            i0.invoke(event);
        } catch (Throwable t) {
            failed(s0, event, ctx, frame, t);
        }
        Invokers.OneArg i1 = this.i1;
        if (i1 == null) {
            return;
        }
        try {
            i1.invoke(event);
        } catch (Throwable t) {
            failed(s1, event, ctx, frame, t);
        }
        Invokers.OneArg i2 = this.i2;
        if (i2 == null) {
            return;
        }
        try {
            i2.invoke(event);
        } catch (Throwable t) {
            failed(s2, event, ctx, frame, t);
        }
        Invokers.OneArg i3 = this.i3;
        if (i3 == null) {
            return;
        }
        try {
            i3.invoke(event);
        } catch (Throwable t) {
            failed(s3, event, ctx, frame, t);
        }
        Invokers.OneArg i4 = this.i4;
        if (i4 == null) {
            return;
        }
        try {
            i4.invoke(event);
        } catch (Throwable t) {
            failed(s4, event, ctx, frame, t);
        }
        Invokers.OneArg i5 = this.i5;
        if (i5 == null) {
            return;
        }
        try {
            i5.invoke(event);
        } catch (Throwable t) {
            failed(s5, event, ctx, frame, t);
        }
        Subscriber[] more = rest;
        if (more != null) {
            for (Subscriber s : more) {
                call(s, event, ctx, frame);
            }
        }
    }
}
