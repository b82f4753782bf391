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
    /**
     * Dispatchers built for one event class with a hidden class of their own; after that many changes of its
     * subscribers (an application that registers and unregisters as it goes), the class gets the shared template
     * class, so registration churn does not define classes without end.
     */
    static final int OWN_CLASS_LIMIT = 16;

    private final CopyOnWriteArrayList<Subscriber> all = new CopyOnWriteArrayList<>();
    private volatile int version;

    private final ClassValue<Cached> byClass = new ClassValue<>() {
        @Override
        protected Cached computeValue(Class<?> type) {
            return new Cached();
        }
    };

    /** The cache entry of {@code type}, for callers that keep it (a route) and then use {@link #forCached}. */
    Cached cacheOf(Class<?> type) {
        return byClass.get(type);
    }

    /** {@link #forClass} through an entry obtained from {@link #cacheOf} for the same type. */
    Subscriber[] forCached(Class<?> type, Cached c) {
        if (c.version == version) {
            return c.subscribers;
        }
        return rebuild(type, c);
    }

    /** The current registry version: a dispatcher whose {@link Dispatcher#version} equals it is up to date. */
    int version() {
        return version;
    }

    /**
     * The dispatcher of {@code type}'s subscribers, through an entry obtained from {@link #cacheOf} for the same
     * type; built on first use after each change of the subscribers.
     */
    Dispatcher dispatcherOf(Class<?> type, Cached c) {
        Dispatcher d = c.dispatcher;
        if (d != null && d.version == version) {
            return d;
        }
        synchronized (c) {
            Subscriber[] subs = forCached(type, c);
            d = c.dispatcher;
            if (d == null || d.version != c.version) {
                // c.version is the version of subs: both were set together under this lock.
                d = Dispatcher.of(subs, c.version, ++c.dispatchersBuilt <= OWN_CLASS_LIMIT);
                c.dispatcher = d;
            }
            return d;
        }
    }

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
            java.util.Map<String, List<Subscriber>> grouped = new java.util.HashMap<>();
            for (Subscriber s : matching) {
                grouped.computeIfAbsent(s.group, g -> new ArrayList<>()).add(s);
            }
            java.util.Map<String, Subscriber[]> byGroup = new java.util.HashMap<>();
            grouped.forEach((g, list) -> byGroup.put(g, list.toArray(NONE)));
            c.byGroup = byGroup;
            c.subscribers = array;
            c.version = v;
            return array;
        }
    }

    /** The subscribers of {@code group} taking {@code type}'s events, from the same cache. Do not modify. */
    Subscriber[] forClassInGroup(Class<?> type, String group) {
        Cached c = byClass.get(type);
        if (c.version != version) {
            rebuild(type, c);
        }
        Subscriber[] s = c.byGroup.get(group);
        return s == null ? NONE : s;
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
    static final class Cached {
        volatile java.util.Map<String, Subscriber[]> byGroup = java.util.Map.of();
        volatile Subscriber[] subscribers = NONE;
        /** Built lazily from {@code subscribers} (only the synchronous fast path needs it); null until then. */
        volatile Dispatcher dispatcher;
        /** Dispatchers built so far; guarded by this entry's lock. */
        int dispatchersBuilt;
        volatile int version = -1;
    }
}
