package dev.eventbus;

import dev.eventbus.internal.DaemonThreadFactory;
import dev.eventbus.internal.KeyedLanes;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A transport that keeps everything in this JVM: the default, and the one to use in tests (like
 * kafka-clients' {@code MockProducer}, it needs no broker).
 *
 * <p>It has the semantics of a broker: every group subscribed to a stream gets every message; subscriptions of
 * one group compete; messages of one key are handled in order; {@code RETRY} outcomes are redelivered after
 * their delay; {@code DEAD} outcomes are kept as dead letters that can be listed and replayed; a message whose
 * subscription closed before acknowledging it is handed to another subscription of the group. It is not
 * durable: whatever is queued is lost when the JVM exits (use the JDBC transport on H2 for that).
 *
 * <p>When an {@link EventBus} routes to an in-memory transport it dispatches its own publications straight to
 * its subscribers as objects (no serialization, see {@link EventBus.Builder#serializeInMemory(boolean)});
 * this transport then carries replays and anything sent through the SPI.
 *
 * <p>Messages sent to a stream no group has subscribed to are dropped (nobody can ever read them), as on a
 * RabbitMQ exchange without bindings. Each group queue is bounded; a full queue applies the overflow policy.
 *
 * <p>Thread-safe. Lifecycle: usable once constructed; {@link #close(Duration)} stops its threads.
 */
public final class InMemoryTransport implements Transport {

    private static final Logger log = LoggerFactory.getLogger(InMemoryTransport.class);
    private static final Set<Capability> CAPABILITIES = Collections.unmodifiableSet(EnumSet.of(
            Capability.COMPETING_CONSUMERS, Capability.PER_KEY_ORDER, Capability.DELAYED_DELIVERY,
            Capability.DEAD_LETTER_STORE, Capability.REDELIVERY_AFTER_CRASH));
    /** Redelivery delay after a handler crashed (threw instead of returning an outcome). */
    private static final Duration CRASH_REDELIVERY_DELAY = Duration.ofMillis(50);

    private final Broker broker;
    private final CopyOnWriteArrayList<Member> mine = new CopyOnWriteArrayList<>();
    private volatile boolean closed;

    /** An in-memory transport with default bounds: 64 lanes of 1,024 messages per group, overflow BLOCK for 30 s. */
    public InMemoryTransport() {
        this(64, 1024, OverflowPolicy.BLOCK, Duration.ofSeconds(30));
    }

    /**
     * @param laneCount    ordered lanes per group (keys are hashed onto them); more lanes, more parallelism
     * @param laneCapacity messages one lane holds before the overflow policy applies
     */
    public InMemoryTransport(int laneCount, int laneCapacity, OverflowPolicy overflow, Duration blockTimeout) {
        this(new Broker(laneCount, laneCapacity, overflow, blockTimeout));
    }

    private InMemoryTransport(Broker broker) {
        this.broker = broker;
        broker.instances.incrementAndGet();
    }

    /**
     * Another instance on the same in-memory broker, as a second application instance connects to the same Kafka
     * cluster: its subscriptions compete with this one's within a group, and closing it closes only its own
     * subscriptions. The broker's threads stop when the last instance closes.
     */
    public InMemoryTransport newInstance() {
        if (closed) {
            throw new IllegalStateException("the in-memory transport is closed");
        }
        return new InMemoryTransport(broker);
    }

    /** Everything instances of one in-memory broker share. */
    private static final class Broker {
        final int laneCount;
        final int laneCapacity;
        final OverflowPolicy overflow;
        final Duration blockTimeout;
        final ConcurrentHashMap<String, ConcurrentHashMap<String, Group>> streams = new ConcurrentHashMap<>();
        final ScheduledThreadPoolExecutor scheduler;
        final List<DeadLetter> deadLetters = Collections.synchronizedList(new ArrayList<>());
        final AtomicLong sequence = new AtomicLong();
        final AtomicInteger instances = new AtomicInteger();
        volatile boolean shutdown;

        Broker(int laneCount, int laneCapacity, OverflowPolicy overflow, Duration blockTimeout) {
            if (laneCount < 1 || laneCapacity < 1) {
                throw new IllegalArgumentException("laneCount and laneCapacity must be >= 1");
            }
            this.laneCount = laneCount;
            this.laneCapacity = laneCapacity;
            this.overflow = Objects.requireNonNull(overflow, "overflow");
            this.blockTimeout = Objects.requireNonNull(blockTimeout, "blockTimeout");
            this.scheduler = new ScheduledThreadPoolExecutor(1, new DaemonThreadFactory("eventbus-memory-scheduler"));
            this.scheduler.setRemoveOnCancelPolicy(true);
        }

        void schedule(Runnable r, Duration delay) {
            if (shutdown) {
                return;
            }
            try {
                scheduler.schedule(r, delay.toMillis(), TimeUnit.MILLISECONDS);
            } catch (RuntimeException e) {
                log.warn("in-memory broker closed; a redelivery was dropped with it", e);
            }
        }

        void shutdown() {
            shutdown = true;
            for (Map<String, Group> groups : streams.values()) {
                for (Group g : groups.values()) {
                    g.executor.shutdown();
                }
            }
            scheduler.shutdownNow();
        }
    }

    @Override
    public String name() {
        return "memory";
    }

    @Override
    public Set<Capability> capabilities() {
        return CAPABILITIES;
    }

    @Override
    public CompletableFuture<Void> send(TransportMessage message) {
        Objects.requireNonNull(message, "message");
        // The main path: bookkeeping headers here can only be forged (retries and replays come by other paths).
        message = message.withoutBookkeeping();
        if (closed) {
            return CompletableFuture.failedFuture(new IllegalStateException("the in-memory transport is closed"));
        }
        try {
            Instant at = message.deliverAt();
            if (at == null) {
                fanOut(message);
            } else {
                fanOutAt(message, at);
            }
            return CompletableFuture.completedFuture(null);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Delivers {@code message} once the wall clock reached {@code at}, never before: the delay is not rounded down
     * to whole milliseconds, and a task that fires early by the wall clock (the scheduler runs on
     * {@code System.nanoTime}, which can drift from it) schedules itself again for the rest.
     */
    private void fanOutAt(TransportMessage message, Instant at) {
        Duration left = Duration.between(Instant.now(), at);
        if (left.isNegative() || left.isZero()) {
            fanOut(message);
            return;
        }
        long nanos = left.getSeconds() >= Long.MAX_VALUE / 1_000_000_000L ? Long.MAX_VALUE : left.toNanos();
        broker.scheduler.schedule(() -> fanOutAt(message, at), nanos, TimeUnit.NANOSECONDS);
    }

    private void fanOut(TransportMessage message) {
        Map<String, Group> groups = broker.streams.get(message.stream());
        if (groups == null) {
            return;
        }
        for (Group g : groups.values()) {
            g.enqueue(new Entry(message, 1));
        }
    }

    @Override
    public TransportSubscription subscribe(SubscriptionRequest request, MessageHandler handler) {
        Objects.requireNonNull(request, "request");
        Objects.requireNonNull(handler, "handler");
        if (closed) {
            throw new IllegalStateException("the in-memory transport is closed");
        }
        Group group = broker.streams.computeIfAbsent(request.stream(), s -> new ConcurrentHashMap<>())
                .computeIfAbsent(request.group(), g -> new Group(broker, request.stream(), g));
        Member member = new Member(group, handler, request.concurrency(), request.deferredOutcomes());
        mine.add(member);
        group.join(member);
        return member;
    }

    @Override
    public DeadLetterStore deadLetters() {
        return new MemoryDeadLetters(broker);
    }

    /**
     * Always refuses: a message is gone once every group handled it, so there is nothing to move back to.
     *
     * @throws ReplayNotSupportedException always, saying what to use instead
     */
    @Override
    public ReplayResult replay(String group, String stream, ReplayFrom from) {
        throw new ReplayNotSupportedException(name(), "it keeps no message once its groups handled it. To handle"
                + " events again, keep them: the jdbc transport (on an H2 file in tests and small services) and"
                + " the kafka transport replay; an EventStore projection can rebuild(); dead letters replay through"
                + " bus.deadLetters()");
    }

    @Override
    public void close(Duration timeout) {
        if (closed) {
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + timeout.toNanos();
        for (Member m : mine) {
            m.close(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
        }
        if (broker.instances.decrementAndGet() == 0) {
            broker.shutdown();
        }
    }

    /**
     * For the bus's own local dispatch: hands a failed event to {@code group}'s queue on {@code message.stream()}
     * after {@code delay}, as a RETRY outcome would. The group's queue is created when missing.
     */
    void redeliver(String group, TransportMessage message, Duration delay, int attempt) {
        Group g = broker.streams.computeIfAbsent(message.stream(), s -> new ConcurrentHashMap<>())
                .computeIfAbsent(group, n -> new Group(broker, message.stream(), n));
        Entry e = new Entry(message, attempt);
        if (delay.isZero()) {
            g.enqueue(e);
        } else {
            broker.schedule(() -> g.enqueue(e), delay);
        }
    }

    /** For the bus's own local dispatch: records a dead letter of {@code group}, as a DEAD outcome would. */
    DeadLetter addDeadLetter(String group, TransportMessage message, String reason) {
        Instant now = Instant.now();
        Map<String, String> h = new LinkedHashMap<>();
        h.putIfAbsent(MessageHeaders.DLQ_REASON, reason);
        h.put(MessageHeaders.DLQ_GROUP, group);
        h.put(MessageHeaders.DLQ_ORIGINAL_STREAM, message.stream());
        h.put(MessageHeaders.DLQ_TIME, now.toString());
        DeadLetter d = new DeadLetter(Long.toString(broker.sequence.incrementAndGet()), group,
                message.withHeaders(h), reason, now);
        broker.deadLetters.add(d);
        return d;
    }

    /** Messages queued for {@code group} on {@code stream} and not yet handed to a subscriber (for tests). */
    public int queued(String stream, String group) {
        Map<String, Group> groups = broker.streams.get(stream);
        Group g = groups == null ? null : groups.get(group);
        return g == null ? 0 : g.lanes.queued();
    }

    private record Entry(TransportMessage message, int attempt) {
    }

    /** One consumer group on one stream: its queue (ordered lanes), its members and its worker threads. */
    private static final class Group {
        final Broker broker;
        final String stream;
        final String name;
        final CopyOnWriteArrayList<Member> members = new CopyOnWriteArrayList<>();
        final ThreadPoolExecutor executor;
        final KeyedLanes<Entry> lanes;
        final AtomicInteger roundRobin = new AtomicInteger();

        Group(Broker broker, String stream, String name) {
            this.broker = broker;
            this.stream = stream;
            this.name = name;
            // Work items are lane drain tasks, at most one per lane, so this queue is bounded by the lane count.
            this.executor = new ThreadPoolExecutor(1, 1, 30, TimeUnit.SECONDS, new LinkedBlockingQueue<>(),
                    new DaemonThreadFactory("eventbus-memory-" + stream + "-" + name));
            this.executor.allowCoreThreadTimeOut(true);
            this.lanes = new KeyedLanes<>("in-memory group '" + name + "' on '" + stream + "'",
                    broker.laneCount, broker.laneCapacity, executor, this::deliver, () -> !members.isEmpty(),
                    broker.overflow, broker.blockTimeout);
        }

        void enqueue(Entry e) {
            lanes.submit(e.message.key(), e);
        }

        synchronized void join(Member m) {
            members.add(m);
            resize();
            lanes.kick();
        }

        synchronized void leave(Member m) {
            members.remove(m);
            resize();
        }

        private void resize() {
            int threads = Math.max(1, members.stream().mapToInt(x -> x.concurrency).sum());
            if (threads > executor.getMaximumPoolSize()) {
                executor.setMaximumPoolSize(threads);
                executor.setCorePoolSize(threads);
            } else {
                executor.setCorePoolSize(threads);
                executor.setMaximumPoolSize(threads);
            }
        }

        private Member pick(Entry e) {
            List<Member> ms = members;
            int size = ms.size();
            if (size == 0) {
                return null;
            }
            String key = e.message.key();
            int i = key == null ? roundRobin.getAndIncrement() : key.hashCode();
            try {
                return ms.get(Math.floorMod(i, size));
            } catch (IndexOutOfBoundsException raced) {
                return ms.isEmpty() ? null : ms.get(0);
            }
        }

        private void deliver(Entry e) {
            Member m = pick(e);
            if (m == null || !m.enter()) {
                enqueue(e); // nobody can take it now: back in line until a member joins
                return;
            }
            Delivery d = new Delivery(e.message, e.attempt, stream + "/" + name + "#" + broker.sequence.incrementAndGet());
            if (m.deferred) {
                // A batch subscriber's group: the outcome may come later; the lane goes on with the next message.
                CompletableFuture<Outcome> f;
                try {
                    f = m.handler.handleAsync(d);
                } catch (Throwable t) {
                    f = CompletableFuture.failedFuture(t);
                }
                if (f == null) {
                    f = CompletableFuture.failedFuture(new NullPointerException("handler returned a null future"));
                }
                f.whenComplete((outcome, failure) -> {
                    m.exit();
                    settle(m, e, failure == null ? outcome : null, failure);
                });
                return;
            }
            Outcome outcome;
            Throwable failure = null;
            try {
                outcome = m.handler.handle(d);
            } catch (Throwable t) {
                outcome = null;
                failure = t;
            } finally {
                m.exit();
            }
            settle(m, e, outcome, failure);
        }

        /** Acts on a handler's outcome; null (with the handler's exception) counts as not acknowledged. */
        private void settle(Member m, Entry e, Outcome outcome, Throwable failure) {
            if (outcome == null) {
                log.warn("handler for group '{}' on '{}' threw instead of returning an outcome; redelivering",
                        name, stream, failure == null ? new NullPointerException("handler returned a null outcome")
                                : failure);
            }
            if (m.abandoned) {
                // Its subscription closed and stopped waiting for it: count it as never acknowledged.
                enqueue(e);
                return;
            }
            if (outcome == null) {
                broker.schedule(() -> enqueue(new Entry(e.message, e.attempt + 1)), CRASH_REDELIVERY_DELAY);
                return;
            }
            switch (outcome.kind()) {
                case ACK:
                    break;
                case RETRY:
                    TransportMessage next = e.message.withHeaders(outcome.headers());
                    broker.schedule(() -> enqueue(new Entry(next, e.attempt + 1)), outcome.delay());
                    break;
                case DEAD:
                default:
                    Map<String, String> h = new LinkedHashMap<>(outcome.headers());
                    h.putIfAbsent(MessageHeaders.DLQ_REASON, outcome.reason());
                    h.put(MessageHeaders.DLQ_GROUP, name);
                    h.put(MessageHeaders.DLQ_ORIGINAL_STREAM, stream);
                    Instant now = Instant.now();
                    h.put(MessageHeaders.DLQ_TIME, now.toString());
                    broker.deadLetters.add(new DeadLetter(Long.toString(broker.sequence.incrementAndGet()), name,
                            e.message.withHeaders(h), outcome.reason(), now));
                    break;
            }
        }
    }

    private static final class Member implements TransportSubscription {
        final Group group;
        final MessageHandler handler;
        final int concurrency;
        /** The handler may decide outcomes later ({@link SubscriptionRequest#deferredOutcomes()}). */
        final boolean deferred;
        final AtomicInteger inFlight = new AtomicInteger();
        volatile boolean closing;
        volatile boolean abandoned;

        Member(Group group, MessageHandler handler, int concurrency, boolean deferred) {
            this.group = group;
            this.handler = handler;
            this.concurrency = concurrency;
            this.deferred = deferred;
        }

        boolean enter() {
            inFlight.incrementAndGet();
            if (closing) {
                inFlight.decrementAndGet();
                return false;
            }
            return true;
        }

        void exit() {
            inFlight.decrementAndGet();
        }

        @Override
        public void close(Duration timeout) {
            if (closing) {
                return;
            }
            closing = true;
            group.leave(this);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (inFlight.get() > 0 && System.nanoTime() - deadline < 0) {
                try {
                    Thread.sleep(1);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            if (inFlight.get() > 0) {
                abandoned = true;
                log.warn("subscription of group '{}' on '{}' closed with {} handler(s) still running; "
                        + "their messages will be redelivered", group.name, group.stream, inFlight.get());
            }
        }
    }

    private static final class MemoryDeadLetters implements DeadLetterStore {
        private final Broker broker;
        private final List<DeadLetter> deadLetters;

        MemoryDeadLetters(Broker broker) {
            this.broker = broker;
            this.deadLetters = broker.deadLetters;
        }

        @Override
        public List<DeadLetter> list(String group, int limit) {
            List<DeadLetter> out = new ArrayList<>();
            synchronized (deadLetters) {
                for (DeadLetter d : deadLetters) {
                    if (out.size() >= limit) {
                        break;
                    }
                    if (group == null || group.equals(d.group())) {
                        out.add(d);
                    }
                }
            }
            return out;
        }

        @Override
        public boolean replay(DeadLetter deadLetter) {
            boolean removed;
            synchronized (deadLetters) {
                removed = deadLetters.removeIf(d -> d.id().equals(deadLetter.id()));
            }
            if (!removed) {
                return false;
            }
            TransportMessage original = deadLetter.message().forReplay();
            Map<String, Group> groups = broker.streams.get(deadLetter.originalStream());
            Group g = groups == null ? null : groups.get(deadLetter.group());
            if (g == null) {
                // The group is gone from this JVM; keep the dead letter rather than lose it.
                deadLetters.add(deadLetter);
                return false;
            }
            g.enqueue(new Entry(original.withStream(deadLetter.originalStream()), 1));
            return true;
        }
    }
}
