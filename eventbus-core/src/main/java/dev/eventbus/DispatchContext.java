package dev.eventbus;

import dev.eventbus.internal.Uuid7;

import java.util.Arrays;

/**
 * What the current thread is handling, as a stack of frames (a handler may publish, and a synchronous publish
 * handles its event at once, one frame deeper). A publish made while a frame is open gets the handled event's
 * correlation id and its id as causation id (its {@link Lineage}).
 *
 * <p>Frames are reused objects, one per depth, and a frame's envelope is built only when someone asks for it (a
 * subscriber that takes {@code Envelope}, a failure, or a nested publish). The synchronous fast path
 * ({@link #pushFast}) touches no frame at all: it moves the depth, an int. Profiled: storing the event into a
 * long-lived frame cost G1's post-write barrier (a fence) on every publish, and even reading the frame array and
 * the frame cost as much again as the rest of the publish. So a fast frame is "clean" (no options, parent = the
 * frame below, time = when its envelope is built) and holds nothing; whoever needs its envelope has the event and
 * its bus at hand and passes them in; a nested publish needs only the lineage, whose id is then drawn and kept in
 * the frame, so that an envelope built later for the same frame carries it. {@link #pop} leaves a frame clean
 * again. One instance per thread; not thread-safe by design.
 */
final class DispatchContext {

    private static final ThreadLocal<DispatchContext> CURRENT = ThreadLocal.withInitial(DispatchContext::new);

    private int depth;
    /**
     * Frames holding a lazily built envelope or drawn ids ({@code known}) right now: while it is 0, closing a fast
     * frame has nothing to clear and does not look at the frame.
     */
    private int known;
    private Frame[] frames = new Frame[4];

    private static final class Frame {
        /** Opened by {@link #pushLazy} or {@link #push}: the fields below apply. False: a clean fast frame. */
        boolean lazy;
        EventBus bus;
        EventTypes.Info info;
        /** The event, held by lazy frames and by fast frames of an {@link Event} (with its route). */
        Object event;
        Route route;
        PublishOptions options;
        /** The envelope once built; before that, the ids drawn for a nested publish, which the envelope reuses. */
        Lineage known;
        Lineage parent;
        boolean inheritParent;
        long millis;
    }

    /** The lineage of a frame whose envelope is not built yet. Immutable. */
    private record Ids(String id, String correlationId, String traceparent) implements Lineage {
    }

    DispatchContext() {
        for (int i = 0; i < frames.length; i++) {
            frames[i] = new Frame();
        }
    }

    static DispatchContext current() {
        return CURRENT.get();
    }

    /** Frame {@code i}, growing the array when fast pushes went deeper than it. */
    private Frame frameAt(int i) {
        if (i >= frames.length) {
            int old = frames.length;
            frames = Arrays.copyOf(frames, Math.max(i + 1, old * 2));
            for (int j = old; j < frames.length; j++) {
                frames[j] = new Frame();
            }
        }
        return frames[i];
    }

    private Frame next() {
        int i = depth;
        Frame f = frameAt(i);
        depth = i + 1;
        return f;
    }

    private void setKnown(Frame f, Lineage l) {
        if (f.known == null) {
            known++;
        }
        f.known = l;
    }

    private void clearKnown(Frame f) {
        if (f.known != null) {
            f.known = null;
            known--;
        }
    }

    /**
     * Opens a frame for an event whose envelope is built lazily. Close with {@link #pop}.
     *
     * @param inherit true when the parent is the frame below (synchronous nested dispatch); else {@code parent}
     * @param publishedMillis publish time, or 0 for "when the envelope is built"
     */
    int pushLazy(EventBus bus, Object event, EventTypes.Info info, PublishOptions opts, boolean inherit,
                 Lineage parent, long publishedMillis) {
        Frame f = next();
        f.lazy = true;
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
     * Opens a clean frame for a publish without options on the synchronous fast path. Close with {@link #popFast}.
     *
     * @return the frame's index
     */
    int pushFast(Route route, Object event) {
        int i = depth;
        if (route.ownsId) {
            holdEvent(i, route, event);
        }
        depth = i + 1;
        return i;
    }

    /**
     * The event supplies its own id ({@link Event#eventId}): the frame holds it, with its route, so that a nested
     * publish can name it as causation without the event at hand.
     */
    private void holdEvent(int i, Route route, Object event) {
        Frame f = frameAt(i);
        f.event = event;
        if (f.route != route) {
            f.route = route;
        }
    }

    /** Closes frame {@code i} opened by {@link #pushFast} for {@code route}. */
    void popFast(int i, Route route) {
        depth = i;
        if (route.ownsId) {
            frames[i].event = null; // not kept: an event may be large
        }
        if (known != 0 && i < frames.length) { // a frame beyond the array was never touched
            clearKnown(frames[i]);
        }
    }

    /** Opens a frame for an event whose envelope is known (a delivery from a transport). Close with {@link #pop}. */
    int push(Envelope<?> envelope) {
        Frame f = next();
        f.lazy = true;
        f.event = envelope.event();
        setKnown(f, envelope);
        f.inheritParent = false;
        f.parent = null;
        return depth - 1;
    }

    /** Closes the top frame, opened by {@link #push} or {@link #pushLazy}, and leaves it clean. */
    void pop() {
        Frame f = frames[--depth];
        f.lazy = false;
        f.event = null;
        clearKnown(f);
        if (f.parent != null) {
            f.parent = null;
        }
    }

    /** The lineage of the event being handled on this thread (what a publish from its handler inherits), or null. */
    Lineage lineage() {
        return depth == 0 ? null : lineageAt(depth - 1);
    }

    /**
     * The envelope of {@code event}, the event of the top frame, published on {@code bus} (a subscriber of
     * {@code bus} taking the envelope is calling).
     */
    Envelope<?> envelopeOfTop(EventBus bus, Object event) {
        return envelopeAt(depth - 1, bus, event);
    }

    /** The envelope of frame {@code i}, whose event is {@code event} published on {@code bus}; built on first use. */
    Envelope<?> envelopeAt(int i, EventBus bus, Object event) {
        Frame f = frameAt(i);
        Lineage k = f.known;
        if (k instanceof Envelope<?> e) {
            return e;
        }
        String id = k == null ? null : k.id(); // ids drawn for a nested publish
        Envelope<?> e;
        if (f.lazy) {
            Lineage parent = f.inheritParent ? lineageBelow(i) : f.parent;
            e = f.bus.envelopes.newEnvelope(event, f.info, f.options, parent, f.millis, id);
        } else {
            e = bus.envelopes.newEnvelope(event, bus.infoOf(event.getClass()), PublishOptions.none(),
                    lineageBelow(i), 0L, id);
        }
        setKnown(f, e);
        return e;
    }

    private Lineage lineageBelow(int i) {
        return i == 0 ? null : lineageAt(i - 1);
    }

    /** The envelope if it was built or can be (the frame holds its event); else ids drawn now and kept. */
    private Lineage lineageAt(int i) {
        Frame f = frameAt(i);
        if (f.known != null) {
            return f.known;
        }
        if (f.lazy) {
            return envelopeAt(i, f.bus, f.event);
        }
        if (f.event != null) {
            return envelopeAt(i, f.route.bus, f.event);
        }
        Lineage parent = lineageBelow(i);
        String id = Uuid7.next();
        Ids ids = parent == null ? new Ids(id, id, null) : new Ids(id, parent.correlationId(), parent.traceparent());
        setKnown(f, ids);
        return ids;
    }
}
