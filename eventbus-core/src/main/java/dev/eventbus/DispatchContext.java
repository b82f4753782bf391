package dev.eventbus;

import java.util.Arrays;

/**
 * What the current thread is handling, as a stack of frames (a handler may publish, and a synchronous publish
 * handles its event at once, one frame deeper). A publish made while a frame is open gets the handled event's
 * correlation id and its id as causation id.
 *
 * <p>Frames are slots in reused arrays, and a frame's envelope is built only when someone asks for it (a
 * subscriber that takes {@code Envelope}, or a nested publish), so the synchronous fast path allocates nothing.
 * One instance per thread; not thread-safe by design.
 */
final class DispatchContext {

    private static final ThreadLocal<DispatchContext> CURRENT = ThreadLocal.withInitial(DispatchContext::new);

    private int depth;
    private Object[] events = new Object[4];
    private EventBus[] buses = new EventBus[4];
    private EventTypes.Info[] infos = new EventTypes.Info[4];
    private PublishOptions[] options = new PublishOptions[4];
    private Envelope<?>[] envelopes = new Envelope<?>[4];
    private Envelope<?>[] parents = new Envelope<?>[4];
    private boolean[] inheritParent = new boolean[4];
    private long[] millis = new long[4];

    static DispatchContext current() {
        return CURRENT.get();
    }

    /**
     * Opens a frame for an event whose envelope is built lazily.
     *
     * @param inherit true when the parent is the frame below (synchronous nested dispatch); else {@code parent}
     * @param publishedMillis publish time, or 0 for "when the envelope is built"
     */
    int pushLazy(EventBus bus, Object event, EventTypes.Info info, PublishOptions opts, boolean inherit,
                 Envelope<?> parent, long publishedMillis) {
        int i = depth;
        if (i == events.length) {
            grow();
        }
        buses[i] = bus;
        events[i] = event;
        infos[i] = info;
        options[i] = opts;
        envelopes[i] = null;
        inheritParent[i] = inherit;
        parents[i] = parent;
        millis[i] = publishedMillis;
        depth = i + 1;
        return i;
    }

    /** Opens a frame for an event whose envelope is known (a delivery from a transport). */
    int push(Envelope<?> envelope) {
        int i = depth;
        if (i == events.length) {
            grow();
        }
        buses[i] = null;
        events[i] = envelope.event();
        infos[i] = null;
        options[i] = null;
        envelopes[i] = envelope;
        inheritParent[i] = false;
        parents[i] = null;
        millis[i] = 0;
        depth = i + 1;
        return i;
    }

    void pop() {
        int i = --depth;
        events[i] = null;
        buses[i] = null;
        infos[i] = null;
        options[i] = null;
        envelopes[i] = null;
        parents[i] = null;
    }

    /** The envelope of the event being handled on this thread, or null. */
    Envelope<?> handling() {
        return depth == 0 ? null : envelopeAt(depth - 1);
    }

    Envelope<?> envelopeAt(int i) {
        Envelope<?> e = envelopes[i];
        if (e == null) {
            Envelope<?> parent = inheritParent[i] ? (i == 0 ? null : envelopeAt(i - 1)) : parents[i];
            e = buses[i].newEnvelope(events[i], infos[i], options[i], parent, millis[i]);
            envelopes[i] = e;
        }
        return e;
    }

    private void grow() {
        int n = events.length * 2;
        events = Arrays.copyOf(events, n);
        buses = Arrays.copyOf(buses, n);
        infos = Arrays.copyOf(infos, n);
        options = Arrays.copyOf(options, n);
        envelopes = Arrays.copyOf(envelopes, n);
        parents = Arrays.copyOf(parents, n);
        inheritParent = Arrays.copyOf(inheritParent, n);
        millis = Arrays.copyOf(millis, n);
    }
}
