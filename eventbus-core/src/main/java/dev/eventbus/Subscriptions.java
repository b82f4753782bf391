package dev.eventbus;

import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportSubscription;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Registers subscribers and keeps the transports' subscriptions in step with them: one subscription, with a
 * {@link GroupDispatcher} as its handler, per (transport, group, stream), bound to the wire types the group's
 * subscribers take. Registration blocks until the transports have the subscriptions. Thread-safe.
 */
final class Subscriptions {

    private final EventBus bus;
    private final SubscriberRegistry registry;
    private final EventTypes types;
    private final Routes routes;
    private final Map<String, Transport> transports;
    private final String service;
    private final int defaultConcurrency;
    private final boolean orderedByKey;
    private final Duration closeTimeout;
    private final Map<String, Integer> groupBatchSizes;
    private final Map<String, Duration> groupBatchWaits;
    /** The threads of batch subscribers, made when the first one registers; guarded by this. */
    private BatchLanes.Scheduler batchScheduler;
    private final AtomicInteger lambdaCount = new AtomicInteger();
    /** Guarded by this. */
    private final Map<SubscriptionKey, GroupSubscription> subscriptions = new HashMap<>();

    Subscriptions(EventBus bus, SubscriberRegistry registry, EventTypes types, Routes routes, BusSetup setup) {
        this.bus = bus;
        this.registry = registry;
        this.types = types;
        this.routes = routes;
        this.transports = setup.transports;
        this.service = setup.service;
        this.defaultConcurrency = setup.concurrency;
        this.orderedByKey = setup.orderedByKey;
        this.closeTimeout = setup.closeTimeout;
        this.groupBatchSizes = setup.groupBatchSizes;
        this.groupBatchWaits = setup.groupBatchWaits;
    }

    /** Default batch size and wait when neither {@link Subscribe} nor the group's configuration sets them. */
    static final int DEFAULT_BATCH_SIZE = 100;
    static final Duration DEFAULT_BATCH_WAIT = Duration.ofMillis(200);

    /** See {@link EventBus#register}. */
    Registration register(Object subscriber) {
        return add(Subscriber.scan(subscriber, bus, service, defaultConcurrency));
    }

    /** See {@link EventBus#subscribe(Class, String, EventHandler)}. */
    @SuppressWarnings("unchecked")
    <E> Registration subscribe(Class<E> type, String group, EventHandler<? super E> handler) {
        if (type.isPrimitive()) {
            throw new IllegalArgumentException("cannot subscribe to primitive " + type + ": events are objects");
        }
        EventHandler<Object> h = (EventHandler<Object>) handler;
        String id = "lambda:" + group + ":" + type.getName() + "#" + lambdaCount.incrementAndGet();
        return add(List.of(Subscriber.ofLambda(bus, id, group, type, defaultConcurrency, h::handle)));
    }

    /** See {@link EventBus#subscribe(Class, String, Filter, EventHandler)}. */
    @SuppressWarnings("unchecked")
    <E> Registration subscribe(Class<E> type, String group, Filter filter, EventHandler<? super E> handler) {
        if (type.isPrimitive()) {
            throw new IllegalArgumentException("cannot subscribe to primitive " + type + ": events are objects");
        }
        EventHandler<Object> h = (EventHandler<Object>) handler;
        String id = "lambda:" + group + ":" + type.getName() + "#" + lambdaCount.incrementAndGet();
        return add(List.of(Subscriber.ofFilteredLambda(bus, id, group, type, defaultConcurrency, filter, h::handle)));
    }

    /** See {@link EventBus#subscribeEnvelopes(Class, String, EnvelopeHandler)}. */
    @SuppressWarnings("unchecked")
    <E> Registration subscribeEnvelopes(Class<E> type, String group, EnvelopeHandler<E> handler) {
        if (type.isPrimitive()) {
            throw new IllegalArgumentException("cannot subscribe to primitive " + type + ": events are objects");
        }
        String id = "lambda:" + group + ":" + type.getName() + "#" + lambdaCount.incrementAndGet();
        return add(List.of(Subscriber.ofEnvelopeLambda(bus, id, group, type, defaultConcurrency,
                envelope -> handler.handle((Envelope<E>) envelope))));
    }

    private Registration add(List<Subscriber> subs) {
        for (Subscriber s : subs) {
            if (EventTypes.isConcrete(s.eventClass)) {
                types.of(s.eventClass);
            }
            if (s.isBatch()) {
                s.batches = newBatchLanes(s);
            }
        }
        registry.addAll(subs);
        try {
            sync();
        } catch (RuntimeException e) {
            registry.removeAll(subs);
            closeBatches(subs);
            throw e;
        }
        return new SubscriberRegistration(subs);
    }

    /** A batch subscriber's lanes: size and wait from its annotation, else its group's configuration, else defaults. */
    private synchronized BatchLanes newBatchLanes(Subscriber s) {
        int size = s.batchSize > 0 ? s.batchSize : groupBatchSizes.getOrDefault(s.group, DEFAULT_BATCH_SIZE);
        Duration wait = !s.batchWait.isEmpty() ? dev.eventbus.spi.TransportContext.parseDuration("batchWait", s.batchWait)
                : groupBatchWaits.getOrDefault(s.group, DEFAULT_BATCH_WAIT);
        if (batchScheduler == null) {
            batchScheduler = new BatchLanes.Scheduler(service);
        }
        return new BatchLanes(s, size, wait.toNanos(), s.concurrency, bus.retry, batchScheduler);
    }

    /** Hands waiting batch events over at once, then stops the lanes (what never started stays unacknowledged). */
    private static void closeBatches(List<Subscriber> subs) {
        for (Subscriber s : subs) {
            if (s.batches != null) {
                s.batches.flush();
            }
        }
        for (Subscriber s : subs) {
            if (s.batches != null) {
                s.batches.close();
            }
        }
    }

    /** Makes the transport subscriptions match the registered subscribers: new ones, wider bindings, closed ones. */
    private synchronized void sync() {
        Map<SubscriptionKey, Set<String>> wanted = new LinkedHashMap<>();
        Map<SubscriptionKey, Integer> concurrency = new HashMap<>();
        Map<SubscriptionKey, Integer> batchSizes = new HashMap<>();
        // The union of the subscribers' filters; a subscriber without one makes it everything (Filter.all()).
        Map<SubscriptionKey, Filter> filters = new HashMap<>();
        for (Subscriber s : registry.all()) {
            List<EventTypes.Info> infos = types.concreteSubtypesOf(s.eventClass);
            // Push-down by type: a filter that confines the subscriber to some types subscribes it to those only.
            Set<String> confined = s.filter == null ? null : s.filter.types();
            if (confined != null && !infos.isEmpty()) {
                infos = infos.stream().filter(i -> confined.contains(i.name())).toList();
                if (infos.isEmpty()) {
                    continue; // none of its types can pass its filter
                }
            }
            int batchSize = s.batches == null ? 0 : s.batches.maxSize;
            Filter filter = s.filter == null ? Filter.all() : s.filter;
            if (infos.isEmpty()) {
                // An interface or abstract type with no known implementation: listen to the default stream, all types.
                EventTypes.Info any = new EventTypes.Info(s.eventClass, "", 1, types.of(s.eventClass).stream(), null);
                Route r = routes.routeFor(any, any.stream());
                SubscriptionKey k = new SubscriptionKey(r.transportName, s.group, any.stream());
                wanted.computeIfAbsent(k, x -> new TreeSet<>());
                concurrency.merge(k, s.concurrency, Math::max);
                batchSizes.merge(k, batchSize, Math::max);
                filters.merge(k, filter, Filter::or);
                continue;
            }
            for (EventTypes.Info info : infos) {
                Route r = routes.routeFor(info, info.stream());
                SubscriptionKey k = new SubscriptionKey(r.transportName, s.group, info.stream());
                wanted.computeIfAbsent(k, x -> new TreeSet<>()).add(info.name());
                concurrency.merge(k, s.concurrency, Math::max);
                batchSizes.merge(k, batchSize, Math::max);
                filters.merge(k, filter, Filter::or);
            }
        }
        for (Map.Entry<SubscriptionKey, Set<String>> e : wanted.entrySet()) {
            SubscriptionKey k = e.getKey();
            GroupSubscription existing = subscriptions.get(k);
            int batchSize = batchSizes.getOrDefault(k, 0);
            Filter filter = filters.get(k);
            filter = filter == Filter.all() ? null : filter;
            if (existing != null && (existing.batchSize < batchSize || !java.util.Objects.equals(existing.filter, filter))) {
                // A batch subscriber (the transport must defer outcomes) or another filter joined the group: the
                // transport subscription is made again with the new request.
                subscriptions.remove(k).subscription.close(closeTimeout);
                existing = null;
            }
            if (existing == null) {
                GroupDispatcher dispatcher = new GroupDispatcher(bus, k.group, k.stream, k.transport);
                SubscriptionRequest req = new SubscriptionRequest(k.group, k.stream, e.getValue(),
                        concurrency.get(k), orderedByKey, batchSize, filter);
                TransportSubscription sub = transports.get(k.transport).subscribe(req, dispatcher);
                subscriptions.put(k, new GroupSubscription(sub, e.getValue(), batchSize, filter));
            } else if (!existing.types.containsAll(e.getValue())) {
                Set<String> union = new TreeSet<>(existing.types);
                union.addAll(e.getValue());
                existing.subscription.updateTypes(union);
                existing.types = union;
            }
        }
        for (SubscriptionKey k : new ArrayList<>(subscriptions.keySet())) {
            if (!wanted.containsKey(k)) {
                subscriptions.remove(k).subscription.close(closeTimeout);
            }
        }
    }

    /** The (transport name, stream) pairs {@code group} is subscribed to now, sorted; for {@link Replays}. */
    synchronized List<Map.Entry<String, String>> streamsOf(String group) {
        List<Map.Entry<String, String>> out = new ArrayList<>();
        for (SubscriptionKey k : subscriptions.keySet()) {
            if (k.group.equals(group)) {
                out.add(Map.entry(k.transport, k.stream));
            }
        }
        out.sort(Map.Entry.<String, String>comparingByKey().thenComparing(Map.Entry.comparingByValue()));
        return out;
    }

    /** The groups with a transport subscription now, sorted; for messages. */
    synchronized Set<String> groups() {
        Set<String> out = new TreeSet<>();
        subscriptions.keySet().forEach(k -> out.add(k.group));
        return out;
    }

    /**
     * Closes every transport subscription, each within what is left until {@code deadline} (nanoTime). Batch
     * subscribers first hand their waiting events over, so the subscriptions' drain includes them; events no call
     * took by then stay unacknowledged.
     */
    synchronized void closeAll(long deadline) {
        List<Subscriber> batchSubs = new ArrayList<>();
        for (Subscriber s : registry.all()) {
            if (s.batches != null) {
                batchSubs.add(s);
                s.batches.flush();
            }
        }
        for (GroupSubscription s : subscriptions.values()) {
            EventBus.closeQuietly(s.subscription, EventBus.remaining(deadline));
        }
        subscriptions.clear();
        for (Subscriber s : batchSubs) {
            // Local (in-memory) events have no transport subscription to wait for them: their calls are waited for here.
            s.batches.awaitIdle(deadline);
        }
        closeBatches(batchSubs);
        if (batchScheduler != null) {
            batchScheduler.shutdown();
        }
    }

    private record SubscriptionKey(String transport, String group, String stream) {
    }

    private static final class GroupSubscription {
        final TransportSubscription subscription;
        volatile Set<String> types;
        final int batchSize;
        final Filter filter;

        GroupSubscription(TransportSubscription subscription, Set<String> types, int batchSize, Filter filter) {
            this.subscription = subscription;
            this.types = types;
            this.batchSize = batchSize;
            this.filter = filter;
        }
    }

    /** The handle of one {@code register} or {@code subscribe} call. */
    private final class SubscriberRegistration implements Registration {
        private final List<Subscriber> subs;
        private volatile boolean done;

        SubscriberRegistration(List<Subscriber> subs) {
            this.subs = subs;
        }

        @Override
        public void unregister() {
            if (!done) {
                done = true;
                registry.removeAll(subs);
                if (!bus.isClosed()) {
                    sync();
                }
                closeBatches(subs);
            }
        }

        /** Says what is registered: {@code Registration[com.acme.Inventory#onPlaced(OrderPlaced) of OrderPlaced in group 'orders']}. */
        @Override
        public String toString() {
            StringBuilder sb = new StringBuilder("Registration[");
            for (int i = 0; i < subs.size(); i++) {
                Subscriber s = subs.get(i);
                sb.append(i == 0 ? "" : ", ").append(s.id).append(" of ").append(s.eventClass.getName())
                        .append(" in group '").append(s.group).append('\'');
            }
            return sb.append(done ? "; unregistered]" : "]").toString();
        }
    }
}
