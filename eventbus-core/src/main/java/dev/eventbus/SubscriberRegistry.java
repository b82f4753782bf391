package dev.eventbus;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Who listens to what. Keeps every subscriber in a copy-on-write list and, per event class, a cached array of the
 * subscribers that take it (the class itself, its superclasses, its interfaces). Registration bumps a version,
 * and each cached array is rebuilt on its next use, so publishing reads one array with no lock and no iterator.
 * Thread-safe.
 */
final class SubscriberRegistry {

    private static final Subscriber[] NONE = new Subscriber[0];

    private final CopyOnWriteArrayList<Subscriber> all = new CopyOnWriteArrayList<>();
    private volatile int version;

    private final ClassValue<Cached> byClass = new ClassValue<>() {
        @Override
        protected Cached computeValue(Class<?> type) {
            return new Cached();
        }
    };

    /** Subscribers taking {@code type}'s events, in registration order. Never null; do not modify. */
    Subscriber[] forClass(Class<?> type) {
        Cached c = byClass.get(type);
        int v = version;
        if (c.version == v) {
            return c.subscribers;
        }
        return rebuild(type, c);
    }

    private Subscriber[] rebuild(Class<?> type, Cached c) {
        synchronized (c) {
            int v = version;
            List<Subscriber> matching = new ArrayList<>();
            for (Subscriber s : all) {
                if (s.eventClass.isAssignableFrom(type)) {
                    matching.add(s);
                }
            }
            Subscriber[] array = matching.isEmpty() ? NONE : matching.toArray(NONE);
            c.subscribers = array;
            c.version = v;
            return array;
        }
    }

    /** The subscribers of {@code group} taking {@code type}'s events. Allocates: not for the hot path. */
    List<Subscriber> forClassInGroup(Class<?> type, String group) {
        List<Subscriber> out = new ArrayList<>();
        for (Subscriber s : forClass(type)) {
            if (s.group.equals(group)) {
                out.add(s);
            }
        }
        return out;
    }

    synchronized void addAll(Collection<Subscriber> subscribers) {
        all.addAll(subscribers);
        version++;
    }

    synchronized void removeAll(Collection<Subscriber> subscribers) {
        all.removeAll(subscribers);
        version++;
    }

    List<Subscriber> all() {
        return all;
    }

    /** A per-class cache entry; {@code version} is written after {@code subscribers}, read before. */
    private static final class Cached {
        volatile Subscriber[] subscribers = NONE;
        volatile int version = -1;
    }
}
