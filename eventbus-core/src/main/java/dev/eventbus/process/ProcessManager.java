package dev.eventbus.process;

import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.PublishOptions;
import dev.eventbus.Registration;
import dev.eventbus.internal.DaemonThreadFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.BiFunction;

/**
 * Runs sagas and aggregations on a bus: subscribes to the events their definitions take, applies each one to the
 * process it correlates to, and commits the new state, the id of the message applied and the events it emits in
 * one {@link ProcessStore#commit}; fires timeouts once.
 *
 * <pre>{@code
 * ProcessManager processes = ProcessManager.builder(bus, new InMemoryProcessStore())
 *     .saga(orderSaga)
 *     .aggregator(userActivation)
 *     .build();                                    // subscribes; starts the deadline poller
 * ...
 * processes.status("order-saga", orderId)         // where is it, what ran, what was compensated
 * processes.close();                              // unsubscribes; the bus and the store stay open
 * }</pre>
 *
 * <p><b>Applying an event.</b> The event's correlation id names the process; the manager reads it, runs the
 * definition's transition (a pure function) and commits with the expected version. A concurrent update of the same
 * process makes the commit fail ({@link ProcessConflictException}): the manager reads it again and reapplies, up
 * to {@link Builder#maxConflictRetries} times, then lets the bus's retry policy redeliver. A message whose id was
 * applied to the process before is a duplicate: nothing is written or emitted again. A transition that does nothing
 * (a late, stale or repeated reply) writes nothing.
 *
 * <p><b>Timeouts.</b> A process's deadline is stored with it, and a poller (one daemon thread, every
 * {@link Builder#timeoutPollInterval}) fires the ones that are due, on every transport. With
 * {@link Builder#delayedTimeouts(boolean)} (the default when the store commits through an outbox) the manager also
 * emits a delayed {@link ProcessTimeout} message with the state change, so the timeout arrives through the
 * transport at its time (the JDBC outbox relay holds a delayed row until it is due, whatever the target, Kafka
 * included; the in-memory transport schedules it). Either way a timeout fires once: its id
 * ({@code timeout:<deadline>}) is recorded as applied, and the stored deadline must still be the same one.
 *
 * <p><b>Threads.</b> Events are applied on the bus's delivery threads; the poller on its own. Thread-safe.
 * {@link #build} blocks until the transports have the subscriptions; each event applied blocks on the store.
 * Whoever built the manager closes it; it closes neither the bus nor the store.
 */
public final class ProcessManager implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(ProcessManager.class);

    /**
     * What the manager did since it was built.
     *
     * @param applied    events and timeouts committed
     * @param duplicates messages found applied before (nothing done)
     * @param ignored    events with nothing to do (late, stale, repeated, or no correlation id)
     * @param conflicts  commits that lost an optimistic-concurrency race (then retried)
     * @param timeouts   timeouts fired
     */
    public record Stats(long applied, long duplicates, long ignored, long conflicts, long timeouts) {
    }

    private final EventBus bus;
    private final ProcessStore store;
    private final Map<String, ProcessLogic> logics;
    private final boolean delayedTimeouts;
    private final int maxConflictRetries;
    private final Clock clock;
    private final List<Registration> registrations = new ArrayList<>();
    private final ScheduledExecutorService poller;
    private final LongAdder applied = new LongAdder();
    private final LongAdder duplicates = new LongAdder();
    private final LongAdder ignored = new LongAdder();
    private final LongAdder conflicts = new LongAdder();
    private final LongAdder timeouts = new LongAdder();
    private volatile boolean closed;

    private ProcessManager(Builder b) {
        this.bus = b.bus;
        this.store = b.store;
        this.logics = Map.copyOf(b.logics);
        this.delayedTimeouts = b.delayedTimeouts != null ? b.delayedTimeouts : store.publishesEmitted();
        this.maxConflictRetries = b.maxConflictRetries;
        this.clock = b.clock;
        String group = b.group != null ? b.group : bus.serviceName();
        try {
            for (ProcessLogic logic : logics.values()) {
                for (ProcessLogic.Binding binding : logic.bindings()) {
                    registrations.add(bus.subscribeEnvelopes(binding.type(), group,
                            env -> onEvent(logic, binding, env)));
                }
            }
            if (delayedTimeouts) {
                registrations.add(bus.subscribeEnvelopes(ProcessTimeout.class, group, this::onTimeoutMessage));
            }
        } catch (RuntimeException e) {
            registrations.forEach(Registration::unregister);
            throw e;
        }
        this.poller = Executors.newSingleThreadScheduledExecutor(new DaemonThreadFactory("eventbus-process-timeouts"));
        long every = b.pollInterval.toMillis();
        poller.scheduleWithFixedDelay(this::pollQuietly, every, every, TimeUnit.MILLISECONDS);
    }

    /** A builder for a manager of processes on {@code bus}, stored in {@code store}. */
    public static Builder builder(EventBus bus, ProcessStore store) {
        return new Builder(bus, store);
    }

    /**
     * Where process {@code type}/{@code id} is: status, current step, what ran, what was compensated, history.
     * Blocks on the store.
     *
     * @return empty when there is no such process
     * @throws IllegalArgumentException when no definition of this manager is named {@code type}
     */
    public Optional<ProcessView> status(String type, String id) {
        ProcessLogic logic = logicOf(type);
        return store.find(type, id).map(logic::view);
    }

    /**
     * Fires every timeout that is due now (what the poller does every interval), and returns how many fired.
     * Blocks on the store.
     */
    public int fireDueTimeouts() {
        Instant now = clock.instant();
        int fired = 0;
        for (ProcessInstance p : store.due(logics.keySet(), now, 500)) {
            if (fireTimeout(logics.get(p.type()), p.id(), p.deadline().toEpochMilli())) {
                fired++;
            }
        }
        return fired;
    }

    /** Counters since the manager was built. */
    public Stats stats() {
        return new Stats(applied.sum(), duplicates.sum(), ignored.sum(), conflicts.sum(), timeouts.sum());
    }

    /** Unsubscribes and stops the poller; events in flight finish. Closes neither the bus nor the store. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        poller.shutdownNow();
        for (Registration r : registrations) {
            try {
                r.unregister();
            } catch (RuntimeException e) {
                log.debug("unregistering a process subscription failed", e);
            }
        }
    }

    @Override
    public String toString() {
        return "ProcessManager{" + logics.keySet() + ", store=" + store + '}';
    }

    private ProcessLogic logicOf(String type) {
        ProcessLogic logic = logics.get(type);
        if (logic == null) {
            throw new IllegalArgumentException("no saga or aggregator named '" + type + "' here; there are "
                    + logics.keySet());
        }
        return logic;
    }

    private void onEvent(ProcessLogic logic, ProcessLogic.Binding binding, Envelope<?> env) {
        Object event = env.event();
        String id = binding.correlation() != null ? binding.correlation().apply(event) : env.correlationId();
        if (id == null || id.isEmpty()) {
            log.warn("{} of type {} has no correlation id for process '{}': ignored", env.id(), env.type(),
                    logic.name());
            ignored.increment();
            return;
        }
        apply(logic, id, env.id(), (current, now) -> logic.onEvent(id, current, binding, event, now));
    }

    private void onTimeoutMessage(Envelope<ProcessTimeout> env) {
        ProcessTimeout t = env.event();
        ProcessLogic logic = logics.get(t.processType());
        if (logic != null) {
            fireTimeout(logic, t.processId(), t.deadlineMillis());
        }
    }

    private boolean fireTimeout(ProcessLogic logic, String id, long deadlineMillis) {
        boolean fired = apply(logic, id, "timeout:" + deadlineMillis, (current, now) -> {
            if (current == null || current.isFinished() || current.deadline() == null
                    || current.deadline().toEpochMilli() != deadlineMillis || current.deadline().isAfter(now)) {
                return null; // moved on, or not due yet (a delayed message never comes early, but a clock may differ)
            }
            return logic.onTimeout(current, now);
        });
        if (fired) {
            timeouts.increment();
        }
        return fired;
    }

    private void pollQuietly() {
        try {
            fireDueTimeouts();
        } catch (RuntimeException e) {
            // the next round tries again; a store outage must not kill the poller
            log.warn("firing due process timeouts failed: {}", e.toString());
        }
    }

    /** Reads, transitions and commits, again after a conflict. True when a change was committed. */
    private boolean apply(ProcessLogic logic, String id, String messageId,
                          BiFunction<ProcessInstance, Instant, ProcessLogic.Transition> transition) {
        for (int attempt = 1; attempt <= maxConflictRetries; attempt++) {
            ProcessInstance current = store.find(logic.name(), id).orElse(null);
            Instant now = clock.instant();
            ProcessLogic.Transition t = transition.apply(current, now);
            if (t == null) {
                ignored.increment();
                return false;
            }
            ProcessInstance next = new ProcessInstance(logic.name(), id, current == null ? 1 : current.version() + 1,
                    t.status().name(), ProcessLogic.text(t.data()), t.deadline(), now);
            List<OutgoingEvent> emitted = keyed(t.emitted(), id);
            if (delayedTimeouts && t.deadline() != null
                    && (current == null || !t.deadline().equals(current.deadline()))) {
                emitted.add(new OutgoingEvent(new ProcessTimeout(logic.name(), id, t.deadline().toEpochMilli()),
                        PublishOptions.builder().key(id).delay(Duration.between(now, t.deadline())).build()));
            }
            ProcessStore.CommitResult result;
            try {
                result = store.commit(next, messageId, emitted);
            } catch (ProcessConflictException e) {
                conflicts.increment();
                continue;
            }
            if (result == ProcessStore.CommitResult.DUPLICATE) {
                duplicates.increment();
                return false;
            }
            applied.increment();
            if (!store.publishesEmitted()) {
                publish(emitted);
            }
            return true;
        }
        throw new ProcessConflictException("process " + logic.name() + "/" + id + " was changed concurrently "
                + maxConflictRetries + " times in a row while applying " + messageId + "; the bus will retry it");
    }

    private void publish(List<OutgoingEvent> emitted) {
        for (OutgoingEvent e : emitted) {
            // the state is committed: a failure here cannot be undone, only reported (the JDBC store has no such gap)
            try {
                bus.publish(e.event(), e.options()).whenComplete((v, failure) -> {
                    if (failure != null) {
                        log.error("process event {} was not published: {}", e.event(), failure.toString());
                    }
                });
            } catch (RuntimeException failure) {
                log.error("process event {} was not published: {}", e.event(), failure.toString());
            }
        }
    }

    private static List<OutgoingEvent> keyed(List<OutgoingEvent> emitted, String id) {
        List<OutgoingEvent> out = new ArrayList<>(emitted.size() + 1);
        for (OutgoingEvent e : emitted) {
            if (e.options().key() == null && e.options() == PublishOptions.none()) {
                out.add(new OutgoingEvent(e.event(), PublishOptions.builder().key(id).build()));
            } else {
                out.add(e);
            }
        }
        return out;
    }

    /** Builds a {@link ProcessManager}. Not thread-safe. */
    public static final class Builder {
        private final EventBus bus;
        private final ProcessStore store;
        private final Map<String, ProcessLogic> logics = new LinkedHashMap<>();
        private String group;
        private Duration pollInterval = Duration.ofSeconds(1);
        private Boolean delayedTimeouts;
        private int maxConflictRetries = 5;
        private Clock clock = Clock.systemUTC();

        private Builder(EventBus bus, ProcessStore store) {
            this.bus = Objects.requireNonNull(bus, "bus");
            this.store = Objects.requireNonNull(store, "store");
        }

        /** Runs {@code saga}. */
        public Builder saga(SagaDefinition<?> saga) {
            return add(saga.name(), saga.logic());
        }

        /** Runs {@code aggregator}. */
        public Builder aggregator(AggregatorDefinition aggregator) {
            return add(aggregator.name(), aggregator.logic());
        }

        private Builder add(String name, ProcessLogic logic) {
            if (logics.putIfAbsent(name, logic) != null) {
                throw new IllegalArgumentException("two sagas or aggregators named '" + name + "'");
            }
            return this;
        }

        /** The consumer group of the manager's subscriptions; default: the bus's service name. */
        public Builder group(String group) {
            if (group == null || group.isBlank()) {
                throw new IllegalArgumentException("group must not be blank");
            }
            this.group = group;
            return this;
        }

        /** How often the poller looks for due deadlines; default 1 s. */
        public Builder timeoutPollInterval(Duration interval) {
            if (interval == null || interval.toMillis() < 1) {
                throw new IllegalArgumentException("timeoutPollInterval must be at least 1 ms, was " + interval);
            }
            this.pollInterval = interval;
            return this;
        }

        /**
         * Whether to also emit a delayed {@link ProcessTimeout} for each deadline. Default: true when the store
         * commits emitted events through an outbox ({@link ProcessStore#publishesEmitted()}), whose relay delays
         * them for any target; otherwise false, since a transport without delayed delivery (Kafka) refuses a
         * delayed publish. Turn it on with the in-memory store on a transport that has delayed delivery.
         */
        public Builder delayedTimeouts(boolean on) {
            this.delayedTimeouts = on;
            return this;
        }

        /** How many times an event is reapplied after optimistic-concurrency conflicts in a row; default 5. */
        public Builder maxConflictRetries(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("maxConflictRetries must be at least 1, was " + n);
            }
            this.maxConflictRetries = n;
            return this;
        }

        /** The clock for deadlines and history; default UTC system clock (tests pass their own). */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * Subscribes to every event the definitions take and starts the deadline poller.
         *
         * @throws IllegalStateException when there is no definition, or the bus is closed
         */
        public ProcessManager build() {
            if (logics.isEmpty()) {
                throw new IllegalStateException("a ProcessManager needs at least one saga(...) or aggregator(...)");
            }
            return new ProcessManager(this);
        }
    }
}
