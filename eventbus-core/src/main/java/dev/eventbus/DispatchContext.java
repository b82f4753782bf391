package dev.eventbus;

import java.util.Arrays;

/**
 * What the current thread is handling, as a stack of frames (a handler may publish, and a synchronous publish
 * handles its event at once, one frame deeper). A publish made while a frame is open gets the handled event's
 * correlation id and its id as causation id.
 *
 * <p>Frames are reused objects, one per depth, written only where a field changes, and a frame's envelope is
 * built only when someone asks for it (a subscriber that takes {@code Envelope}, or a nested publish), so the
 * synchronous fast path allocates nothing and writes little (profiled: the frame bookkeeping was the largest cost
 * of a synchronous publish). A thread keeps its last bus reachable until its next publish. One instance per
 * thread; not thread-safe by design.
 */
final class DispatchContext {

    private static final ThreadLocal<DispatchContext> CURRENT = ThreadLocal.withInitial(DispatchContext::new);

    private int depth;
    private Frame[] frames = new Frame[4];

    private static final class Frame {
        EventBus bus;
        Object event;
        EventTypes.Info info;
        PublishOptions options;
        Envelope<?> envelope;
        Envelope<?> parent;
        boolean inheritParent;
        long millis;
        /** Opened by {@link #pushFast}: no options, parent = the frame below, time = when the envelope is built. */
        boolean fast;
    }

    DispatchContext() {
        for (int i = 0; i < frames.length; i++) {
            frames[i] = new Frame();
        }
    }

    static DispatchContext current() {
        return CURRENT.get();
    }

    private Frame next() {
        int i = depth;
        if (i == frames.length) {
            frames = Arrays.copyOf(frames, i * 2);
            for (int j = i; j < frames.length; j++) {
                frames[j] = new Frame();
            }
        }
        depth = i + 1;
        return frames[i];
    }

    /**
     * Opens a frame for an event whose envelope is built lazily.
     *
     * @param inherit true when the parent is the frame below (synchronous nested dispatch); else {@code parent}
     * @param publishedMillis publish time, or 0 for "when the envelope is built"
     */
    int pushLazy(EventBus bus, Object event, EventTypes.Info info, PublishOptions opts, boolean inherit,
                 Envelope<?> parent, long publishedMillis) {
        Frame f = next();
        if (f.fast) {
            f.fast = false;
        }
        if (f.bus != bus) {
            f.bus = bus;
        }
        f.event = event;
        if (f.info != info) {
            f.info = info;
        }
        if (f.options != opts) {
            f.options = opts;
        }
        if (f.inheritParent != inherit) {
            f.inheritParent = inherit;
        }
        if (f.parent != parent) {
            f.parent = parent;
        }
        if (f.millis != publishedMillis) {
            f.millis = publishedMillis;
        }
        return depth - 1;
    }

    /**
     * {@link #pushLazy} for a publish without options on the synchronous fast path: the fewest writes (the event,
     * and the bus and type only when they differ from the last event's at this depth). Close with {@link #popFast}.
     *
     * @return the frame's index
     */
    int pushFast(EventBus bus, Object event, EventTypes.Info info) {
        int i = depth;
        Frame[] fs = frames;
        if (i == fs.length) {
            next();
            depth = i;
            fs = frames;
        }
        Frame f = fs[i];
        f.event = event;
        if (f.bus != bus) {
            f.bus = bus;
        }
        if (f.info != info) {
            f.info = info;
        }
        if (!f.fast) {
            f.fast = true;
        }
        depth = i + 1;
        return i;
    }

    /** Closes frame {@code i} opened by {@link #pushFast}. */
    void popFast(int i) {
        depth = i;
        Frame f = frames[i];
        f.event = null; // not kept: an event may be large; this store is cheap (no GC post-barrier for null)
        if (f.envelope != null) {
            f.envelope = null;
        }
    }

    /** Opens a frame for an event whose envelope is known (a delivery from a transport). */
    int push(Envelope<?> envelope) {
        Frame f = next();
        f.fast = false;
        f.event = envelope.event();
        f.envelope = envelope;
        f.inheritParent = false;
        f.parent = null;
        return depth - 1;
    }

    void pop() {
        Frame f = frames[--depth];
        f.event = null;
        if (f.envelope != null) {
            f.envelope = null;
        }
        if (f.parent != null) {
            f.parent = null;
        }
    }

    /** The envelope of the event being handled on this thread, or null. */
    Envelope<?> handling() {
        return depth == 0 ? null : envelopeAt(depth - 1);
    }

    /** The bus that opened frame {@code i} with {@link #pushLazy}. */
    EventBus busAt(int i) {
        return frames[i].bus;
    }

    /** The event type of frame {@code i} opened with {@link #pushLazy}. */
    EventTypes.Info infoAt(int i) {
        return frames[i].info;
    }

    Envelope<?> envelopeAt(int i) {
        Frame f = frames[i];
        Envelope<?> e = f.envelope;
        if (e == null) {
            if (f.fast) {
                e = f.bus.newEnvelope(f.event, f.info, PublishOptions.none(), i == 0 ? null : envelopeAt(i - 1), 0L);
            } else {
                Envelope<?> parent = f.inheritParent ? (i == 0 ? null : envelopeAt(i - 1)) : f.parent;
                e = f.bus.newEnvelope(f.event, f.info, f.options, parent, f.millis);
            }
            f.envelope = e;
        }
        return e;
    }
}
