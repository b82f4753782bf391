package dev.eventbus;

import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import org.slf4j.Logger;

import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The publish path for every publish but the synchronous in-memory one without options (that one is
 * {@link FastPath#publishFast}): route, envelope ({@link Envelopes}), publish interceptors, encode, send. The
 * bus's own work is the last link of the interceptor chain ({@link #terminal}): in memory it hands the envelope to
 * {@link LocalDispatch}; otherwise it encodes it and calls {@link Transport#send}. Thread-safe.
 */
final class Publisher {

    private static final Logger log = EventBus.log;

    private final EventBus bus;
    private final Routes routes;
    private final Envelopes envelopes;
    private final LocalDispatch local;
    private final Counters counters;
    private final PublishInterceptor[] interceptors;
    private final boolean fastLocal;
    private final boolean async;
    private final boolean serializeInMemory;
    private final ScheduledExecutorService scheduler;

    Publisher(EventBus bus, Routes routes, Envelopes envelopes, LocalDispatch local, BusSetup setup,
              ScheduledExecutorService scheduler) {
        this.bus = bus;
        this.routes = routes;
        this.envelopes = envelopes;
        this.local = local;
        this.counters = bus.counters;
        this.interceptors = setup.publishInterceptors;
        this.fastLocal = setup.fastLocal;
        this.async = setup.dispatchMode == DispatchMode.ASYNC;
        this.serializeInMemory = setup.serializeInMemory;
        this.scheduler = scheduler;
    }

    /** A publish without options that did not take the fast path. */
    CompletableFuture<Void> publish(Object event, Route route) {
        if (route.local != null) {
            bus.countPublished(); // in-memory async: counted like the fast path, without a shared write
        } else {
            counters.published.increment();
        }
        return publishRouted(event, PublishOptions.none(), route);
    }

    /** A publish with options (not {@link PublishOptions#none()}). */
    CompletableFuture<Void> publish(Object event, PublishOptions options) {
        counters.published.increment();
        return publishRouted(event, options, bus.routeOf(event.getClass()));
    }

    /** Every publish but the synchronous in-memory one without options; {@code published} is counted already. */
    private CompletableFuture<Void> publishRouted(Object event, PublishOptions options, Route route) {
        if (options.stream() != null) {
            route = routes.routeFor(route.info, options.stream());
        }
        if (route.local != null) {
            if (fastLocal && options.delay() == null) {
                local.dispatchLocal(event, route.info, options, true, null, 0L);
                return EventBus.DONE;
            }
            if (async && interceptors.length == 0 && !serializeInMemory && options.delay() == null) {
                return local.publishAsync(event, route, options);
            }
        }
        try {
            Envelope<?> envelope = envelopes.newEnvelope(event, route.info, options,
                    DispatchContext.current().lineage(), 0L);
            return intercepted(envelope, route, options, null);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** See {@link EventBus#publishAll}. */
    CompletableFuture<Void> publishAll(Collection<?> events) {
        Map<Transport, List<TransportMessage>> batches = new IdentityHashMap<>();
        List<CompletableFuture<Void>> futures = new ArrayList<>();
        for (Object event : events) {
            if (event == null) {
                throw new NullPointerException("cannot publish a null event (in publishAll)");
            }
            Route route = bus.routeOf(event.getClass());
            if (route.local != null) {
                futures.add(bus.publish(event));
                continue;
            }
            counters.published.increment();
            Envelope<?> envelope = envelopes.newEnvelope(event, route.info, PublishOptions.none(),
                    DispatchContext.current().lineage(), 0L);
            List<TransportMessage> batch = batches.computeIfAbsent(route.transport, t -> new ArrayList<>());
            futures.add(intercepted(envelope, route, PublishOptions.none(), batch));
        }
        batches.forEach((transport, batch) -> {
            if (!batch.isEmpty()) {
                futures.add(transport.sendBatch(batch));
            }
        });
        return CompletableFuture.allOf(futures.toArray(new CompletableFuture<?>[0]));
    }

    /** See {@link EventBus#messageFor}. */
    TransportMessage messageFor(Object event, PublishOptions options) {
        Route route = bus.routeOf(event.getClass());
        if (options.stream() != null) {
            route = routes.routeFor(route.info, options.stream());
        }
        Envelope<?> envelope = envelopes.newEnvelope(event, route.info, options, DispatchContext.current().lineage(), 0L);
        List<TransportMessage> out = new ArrayList<>(1);
        intercepted(envelope, route, options, out).join();
        return out.get(0);
    }

    /** Runs the publish interceptors; the last link sends (or collects into {@code batch} when not null). */
    private CompletableFuture<Void> intercepted(Envelope<?> envelope, Route route, PublishOptions options,
                                                List<TransportMessage> batch) {
        EventBusObserver[] obs = bus.observers;
        if (obs.length != 0 && batch == null) {
            long start = System.nanoTime();
            CompletableFuture<Void> sent;
            PublishChain chain = null;
            try {
                if (interceptors.length == 0) {
                    sent = terminal(envelope, route, options, null);
                } else {
                    chain = new PublishChain(0, envelope, route, options, null, null);
                    sent = chain.run();
                }
            } catch (RuntimeException | Error e) {
                Observers.report(obs, envelope, route.transportName, System.nanoTime() - start, e);
                throw e;
            }
            return Observers.published(obs, envelope, route.transportName, start, sent, chain);
        }
        if (interceptors.length == 0) {
            return terminal(envelope, route, options, batch);
        }
        PublishChain chain = new PublishChain(0, envelope, route, options, batch, null);
        CompletableFuture<Void> sent = chain.run();
        return chain.listener == null ? sent : Observers.published(Observers.NONE, envelope, route.transportName, 0L,
                sent, chain);
    }

    /** The bus's own last link of the publish chain. */
    private CompletableFuture<Void> terminal(Envelope<?> envelope, Route route, PublishOptions options,
                                             List<TransportMessage> batch) {
        try {
            if (route.local != null && batch == null) {
                return publishLocalEnvelope(envelope, route, options);
            }
            TransportMessage m = envelopes.encode(envelope, route.info, options);
            if (batch != null) {
                batch.add(m);
                return EventBus.DONE;
            }
            return route.transport.send(m);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private CompletableFuture<Void> publishLocalEnvelope(Envelope<?> envelope, Route route, PublishOptions options) {
        Envelope<?> env = envelope;
        if (serializeInMemory) {
            // Round trip through the wire format, so an event that would fail on a broker fails here too.
            TransportMessage m = envelopes.encode(env, route.info, options);
            Object copy = envelopes.serializerFor(route.info)
                    .deserialize(m.body(), route.info.type(), env.type(), route.info.version());
            env = env.withEvent(copy);
        }
        Envelope<?> ready = env;
        if (options.delay() != null && !options.delay().isZero()) {
            scheduler.schedule(() -> local.deliverEnvelope(ready, route), options.delay().toMillis(),
                    TimeUnit.MILLISECONDS);
            return EventBus.DONE;
        }
        return local.deliverEnvelope(ready, route);
    }

    /**
     * The publish chain: interceptors in order, then {@link #terminal}. The first link (the root) holds the
     * {@link #whenSent} listeners of every link, which {@link Observers#published} runs in the bus's one completion
     * stage.
     */
    final class PublishChain implements PublishInterceptor.Chain {
        private final int index;
        private final Envelope<?> envelope;
        private final Route route;
        private final PublishOptions options;
        private final List<TransportMessage> batch;
        private final PublishChain root;
        private boolean proceeded;
        /** On the root: the first listener, then any others (rare: one tracing interceptor is the usual case). */
        PublishInterceptor.SendListener listener;
        List<PublishInterceptor.SendListener> more;

        PublishChain(int index, Envelope<?> envelope, Route route, PublishOptions options, List<TransportMessage> batch,
                     PublishChain root) {
            this.index = index;
            this.envelope = envelope;
            this.route = route;
            this.options = options;
            this.batch = batch;
            this.root = root == null ? this : root;
        }

        @Override
        public void whenSent(PublishInterceptor.SendListener l) {
            Objects.requireNonNull(l, "listener");
            PublishChain r = root;
            if (r.listener == null) {
                r.listener = l;
            } else {
                if (r.more == null) {
                    r.more = new ArrayList<>(2);
                }
                r.more.add(l);
            }
        }

        CompletableFuture<Void> run() {
            PublishInterceptor interceptor = interceptors[index];
            CompletableFuture<Void> result = interceptor.intercept(this);
            if (result == null) {
                throw new IllegalStateException("publish interceptor " + interceptor + " returned null: it must "
                        + "return the future of chain.proceed(...)");
            }
            if (!proceeded) {
                log.debug("publish interceptor {} did not proceed: event {} was not sent", interceptor, envelope.id());
            }
            return result;
        }

        @Override
        public Envelope<?> envelope() {
            return envelope;
        }

        @Override
        public String transport() {
            return route.transportName;
        }

        @Override
        public CompletableFuture<Void> proceed(Envelope<?> next) {
            Objects.requireNonNull(next, "envelope");
            if (proceeded) {
                throw new IllegalStateException("publish interceptor " + interceptors[index]
                        + " called proceed() twice");
            }
            proceeded = true;
            if (index + 1 < interceptors.length) {
                return new PublishChain(index + 1, next, route, options, batch, root).run();
            }
            return terminal(next, route, options, batch);
        }
    }
}
