package dev.eventbus;

import dev.eventbus.internal.Uuid7;

import java.util.Arrays;

/**
 * What the current thread is handling, as a stack of frames (a handler may publish, and a synchronous publish
 * handles its event at once, one frame deeper). A publish made while a frame is open gets the handled event's
 * correlation id and its id as causation id (its {@link Lineage}).
 *
 * <p>Frames are reused objects, one per depth, written only where a field changes, and a frame's envelope is
 * built only when someone asks for it (a subscriber that takes {@code Envelope}, a failure, or a nested publish),
 * so the synchronous fast path allocates nothing and writes little. A fast frame does not even hold its event:
 * storing a reference into a long-lived frame costs G1's post-write barrier, a memory fence on every publish
 * (profiled: half the cost of the frame). Whoever needs the envelope has the event at hand and passes it in; a
 * nested publish needs only the lineage, whose id is then drawn and kept in the frame, so that an envelope built
 * later for the same frame carries that id. A thread keeps its last bus reachable until its next publish. One
 * instance per thread; not thread-safe by design.
 */
final class DispatchContext {

    private static final ThreadLocal<DispatchContext> CURRENT = ThreadLocal.withInitial(DispatchContext::new);

    private int depth;
    private Frame[] frames = new Frame[4];

    private static final class Frame {
        /** Set by {@link #pushFast} (bus, type; no options; parent = the frame below), null for other frames. */
        EventBus.Route route;
        /** The bus and type of a frame opened by {@link #pushLazy}. */
        EventBus bus;
        EventTypes.Info info;
        /** Held only where the envelope may be built without the event at hand: see {@link #pushFast}. */
        Object event;
        PublishOptions options;
        /**
         * The envelope once built; before that, the ids drawn for a nested publish, which the envelope then reuses.
         * One field for both, so that closing a fast frame reads one field.
         */
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
                 Lineage parent, long publishedMillis) {
        Frame f = next();
        if (f.route != null) {
            f.route = null;
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
     * {@link #pushLazy} for a publish without options on the synchronous fast path: the fewest writes (the route
     * only when it differs from the last event's at this depth, and not the event). Close with {@link #popFast}.
     *
     * @return the frame's index
     */
    int pushFast(EventBus.Route route, Object event) {
        int i = depth;
        Frame[] fs = frames;
        if (i == fs.length) {
            next();
            depth = i;
            fs = frames;
        }
        Frame f = fs[i];
        if (route.ownsId) {
            // The event supplies its own id (Event#eventId): hold it, so that a nested publish can name it as
            // causation without the event at hand.
            f.event = event;
        }
        if (f.route != route) {
            f.route = route;
        }
        depth = i + 1;
        return i;
    }

    /** Closes frame {@code i} opened by {@link #pushFast} for {@code route}. */
    void popFast(int i, EventBus.Route route) {
        depth = i;
        Frame f = frames[i];
        if (route.ownsId) {
            f.event = null; // not kept: an event may be large
        }
        if (f.known != null) {
            f.known = null;
        }
    }

    /** Opens a frame for an event whose envelope is known (a delivery from a transport). */
    int push(Envelope<?> envelope) {
        Frame f = next();
        if (f.route != null) {
            f.route = null;
        }
        f.event = envelope.event();
        f.known = envelope;
        f.inheritParent = false;
        f.parent = null;
        return depth - 1;
    }

    void pop() {
        Frame f = frames[--depth];
        f.event = null;
        if (f.known != null) {
            f.known = null;
        }
        if (f.parent != null) {
            f.parent = null;
        }
    }

    /** The lineage of the event being handled on this thread (what a publish from its handler inherits), or null. */
    Lineage lineage() {
        return depth == 0 ? null : lineageAt(depth - 1);
    }

    /** The envelope of {@code event}, the event of the top frame (a subscriber taking the envelope is calling). */
    Envelope<?> envelopeOfTop(Object event) {
        return envelopeAt(depth - 1, event);
    }

    /** The bus that opened frame {@code i} with {@link #pushLazy}. */
    EventBus busAt(int i) {
        Frame f = frames[i];
        return f.route != null ? f.route.bus : f.bus;
    }

    /** The event type of frame {@code i} opened with {@link #pushLazy}. */
    EventTypes.Info infoAt(int i) {
        Frame f = frames[i];
        return f.route != null ? f.route.info : f.info;
    }

    /** The envelope of frame {@code i}, whose event is {@code event}; built on first use. */
    Envelope<?> envelopeAt(int i, Object event) {
        Frame f = frames[i];
        Lineage known = f.known;
        if (known instanceof Envelope<?> e) {
            return e;
        }
        String id = known == null ? null : known.id(); // ids drawn for a nested publish
        Lineage parent = parentAt(i, f);
        EventBus.Route r = f.route;
        Envelope<?> e = r != null
                ? r.bus.newEnvelope(event, r.info, PublishOptions.none(), parent, 0L, id)
                : f.bus.newEnvelope(event, f.info, f.options, parent, f.millis, id);
        f.known = e;
        return e;
    }

    private Lineage parentAt(int i, Frame f) {
        return f.route != null || f.inheritParent ? (i == 0 ? null : lineageAt(i - 1)) : f.parent;
    }

    /** The envelope if it was built or can be (the frame holds its event); else ids drawn now and kept. */
    private Lineage lineageAt(int i) {
        Frame f = frames[i];
        if (f.known != null) {
            return f.known;
        }
        if (f.event != null) {
            return envelopeAt(i, f.event);
        }
        Lineage parent = parentAt(i, f);
        String id = Uuid7.next();
        Ids ids = new Ids(id, parent == null ? id : parent.correlationId(), parent == null ? null : parent.traceparent());
        f.known = ids;
        return ids;
    }
}
