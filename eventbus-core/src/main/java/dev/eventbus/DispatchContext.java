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

    /** Opens a frame for an event whose envelope is known (a delivery from a transport). */
    int push(Envelope<?> envelope) {
        Frame f = next();
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

    Envelope<?> envelopeAt(int i) {
        Frame f = frames[i];
        Envelope<?> e = f.envelope;
        if (e == null) {
            Envelope<?> parent = f.inheritParent ? (i == 0 ? null : envelopeAt(i - 1)) : f.parent;
            e = f.bus.newEnvelope(f.event, f.info, f.options, parent, f.millis);
            f.envelope = e;
        }
        return e;
    }
}
