package dev.eventbus.process;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.eventbus.PublishOptions;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;

/**
 * An orchestrated saga: started by an event of type {@code S}, it runs its steps one after the other. Each step
 * publishes its action (a command or event built from the start event), then waits for a reply correlated by id:
 * a completion reply moves to the next step; a failure reply, or the step's timeout, makes the saga run the
 * compensations of the steps already completed, in reverse order.
 *
 * <pre>{@code
 * SagaDefinition<OrderPlaced> orderSaga = SagaDefinition.builder("order-saga", OrderPlaced.class, OrderPlaced::orderId)
 *     .step("reserve-stock", o -> new ReserveStock(o.orderId(), o.sku(), o.quantity()))
 *         .completedBy(StockReserved.class, StockReserved::orderId)
 *         .failedBy(OutOfStock.class, OutOfStock::orderId)
 *         .compensateWith(o -> new ReleaseStock(o.orderId(), o.sku(), o.quantity()))
 *         .timeout(Duration.ofSeconds(30))
 *     .step("charge-payment", o -> new ChargePayment(o.orderId(), o.amount()))
 *         .completedBy(PaymentCharged.class, PaymentCharged::orderId)
 *         .failedBy(PaymentDeclined.class, PaymentDeclined::orderId)
 *         .compensateWith(o -> new RefundPayment(o.orderId(), o.amount()))
 *     .step("ship", o -> new ShipOrder(o.orderId()))
 *         .completedBy(OrderShipped.class, OrderShipped::orderId)
 *     .onCompleted(o -> new OrderConfirmed(o.orderId()))
 *     .onCompensated(o -> new OrderCancelled(o.orderId()))
 *     .build();
 * }</pre>
 *
 * <p>The correlation id of the start event is the saga's id; each reply's correlation id must be the same. The
 * functions given with each event type extract it; without one, the event's envelope
 * {@link dev.eventbus.Envelope#correlationId() correlation id} is used (a participant that publishes its reply
 * while handling the saga's command passes it on by itself). Events the saga publishes carry the saga id as their
 * key, so a transport that keeps per-key order delivers them in the order they were emitted.
 *
 * <p>Compensations are fire-and-forget unless {@link Builder#compensatedBy} names the reply that confirms one:
 * then the saga waits for it before compensating the step before. A completion reply that arrives after its step
 * timed out makes the saga compensate that step too.
 *
 * <p>The start event is stored with the saga (as JSON, with Jackson) and handed to every action and compensation,
 * so it must be serializable. Functions must be pure: they may run more than once (after a concurrent update,
 * the saga is read and the event applied again).
 *
 * <p>Immutable and thread-safe once built; run it with a {@link ProcessManager}.
 *
 * @param <S> the start event type
 */
public final class SagaDefinition<S> {

    private record Step<S>(String name, Function<S, ?> action, Function<S, ?> compensation, Duration timeout,
                           ProcessLogic.Binding completed, ProcessLogic.Binding failed,
                           ProcessLogic.Binding compensated) {
    }

    private final String name;
    private final Class<S> startType;
    private final ProcessLogic.Binding start;
    private final List<Step<S>> steps;
    private final Function<S, ?> onCompleted;
    private final Function<S, ?> onCompensated;
    private final Logic logic = new Logic();

    private SagaDefinition(Builder<S> b) {
        this.name = b.name;
        this.startType = b.startType;
        this.start = b.start;
        List<Step<S>> list = new ArrayList<>();
        for (StepBuilder<S> s : b.steps) {
            list.add(new Step<>(s.name, s.action, s.compensation, s.timeout, s.completed, s.failed, s.compensated));
        }
        this.steps = List.copyOf(list);
        this.onCompleted = b.onCompleted;
        this.onCompensated = b.onCompensated;
    }

    /**
     * A builder for a saga named {@code name} (its process type in the store: keep it stable), started by
     * {@code startType} events whose saga id is {@code correlation} of the event.
     */
    public static <S> Builder<S> builder(String name, Class<S> startType, Function<? super S, String> correlation) {
        return new Builder<>(name, startType, Objects.requireNonNull(correlation, "correlation"));
    }

    /** A builder for a saga started by {@code startType} events, whose saga id is the envelope's correlation id. */
    public static <S> Builder<S> builder(String name, Class<S> startType) {
        return new Builder<>(name, startType, null);
    }

    /** The saga's name: its process type in the store. */
    public String name() {
        return name;
    }

    /** The names of its steps, in order. */
    public List<String> steps() {
        return steps.stream().map(Step::name).toList();
    }

    ProcessLogic logic() {
        return logic;
    }

    @Override
    public String toString() {
        return "SagaDefinition{" + name + ", steps=" + steps() + '}';
    }

    @SuppressWarnings("unchecked")
    private static ProcessLogic.Binding binding(Class<?> type, Function<?, String> correlation, ProcessLogic.Kind kind,
                                                int step) {
        Objects.requireNonNull(type, "event type");
        return new ProcessLogic.Binding(type, (Function<Object, String>) correlation, kind, step);
    }

    /** The state machine; every method is a pure function of the stored state and the event. */
    private final class Logic extends ProcessLogic {

        @Override
        String name() {
            return name;
        }

        @Override
        List<Binding> bindings() {
            List<Binding> out = new ArrayList<>();
            out.add(start);
            for (Step<S> s : steps) {
                out.add(s.completed);
                if (s.failed != null) {
                    out.add(s.failed);
                }
                if (s.compensated != null) {
                    out.add(s.compensated);
                }
            }
            return out;
        }

        @Override
        Transition onEvent(String id, ProcessInstance current, Binding binding, Object event, Instant now) {
            if (binding.kind() == Kind.START) {
                if (current != null) {
                    return null; // started already: a duplicate start event
                }
                ObjectNode data = JSON.createObjectNode();
                data.set("start", JSON.valueToTree(event));
                data.putArray("completed");
                data.putArray("compensated");
                data.put("failedStep", -1);
                data.put("waiting", -1);
                history(data, now, "started by " + event.getClass().getSimpleName());
                List<OutgoingEvent> out = new ArrayList<>();
                S s = startType.cast(event);
                return runStep(data, s, 0, now, out);
            }
            if (current == null) {
                return null; // a reply for a saga this store does not know
            }
            ObjectNode data = parse(current);
            ProcessStatus status = ProcessStatus.valueOf(current.status());
            int step = binding.step();
            Step<S> def = steps.get(step);
            String what = event.getClass().getSimpleName();
            S s = read(data, "start", startType);
            List<OutgoingEvent> out = new ArrayList<>();
            switch (binding.kind()) {
                case COMPLETED:
                    if (status == ProcessStatus.RUNNING && data.get("step").asInt() == step) {
                        data.withArray("completed").add(def.name);
                        history(data, now, def.name + ": completed by " + what);
                        return runStep(data, s, step + 1, now, out);
                    }
                    if (!status.equals(ProcessStatus.RUNNING) && data.get("failedStep").asInt() == step
                            && !contains(data, "lateCompleted", def.name)) {
                        // the step timed out, then did its work after all: undo it too
                        data.withArray("lateCompleted").add(def.name);
                        history(data, now, def.name + ": completed by " + what + " after it failed");
                        if (def.compensation != null) {
                            emit(out, def.compensation.apply(s), current.id());
                            data.withArray("compensated").add(def.name);
                            history(data, now, def.name + ": compensation sent (late completion)");
                        }
                        return new Transition(status, data, current.deadline(), out);
                    }
                    return null;
                case FAILED:
                    if (status == ProcessStatus.RUNNING && data.get("step").asInt() == step) {
                        history(data, now, def.name + ": failed by " + what);
                        return compensate(data, s, step, step - 1, now, out);
                    }
                    return null;
                case COMPENSATED:
                    if (status == ProcessStatus.COMPENSATING && data.get("waiting").asInt() == step) {
                        history(data, now, def.name + ": compensation confirmed by " + what);
                        return continueCompensation(data, s, step - 1, now, out);
                    }
                    return null;
                default:
                    return null;
            }
        }

        @Override
        Transition onTimeout(ProcessInstance current, Instant now) {
            if (!ProcessStatus.RUNNING.name().equals(current.status())) {
                return null;
            }
            ObjectNode data = parse(current);
            int step = data.get("step").asInt();
            history(data, now, steps.get(step).name + ": timed out after " + steps.get(step).timeout);
            return compensate(data, read(data, "start", startType), step, step - 1, now, new ArrayList<>());
        }

        private Transition runStep(ObjectNode data, S s, int step, Instant now, List<OutgoingEvent> out) {
            String id = null; // the manager keys it by the saga id
            if (step == steps.size()) {
                data.put("step", -1);
                history(data, now, "completed");
                if (onCompleted != null) {
                    emit(out, onCompleted.apply(s), id);
                }
                return new Transition(ProcessStatus.COMPLETED, data, null, out);
            }
            Step<S> def = steps.get(step);
            data.put("step", step);
            Object action = def.action.apply(s);
            emit(out, action, id);
            history(data, now, def.name + ": sent " + action.getClass().getSimpleName());
            return new Transition(ProcessStatus.RUNNING, data, def.timeout == null ? null : now.plus(def.timeout), out);
        }

        private Transition compensate(ObjectNode data, S s, int failed, int from, Instant now, List<OutgoingEvent> out) {
            data.put("failedStep", failed);
            data.put("step", -1);
            return continueCompensation(data, s, from, now, out);
        }

        private Transition continueCompensation(ObjectNode data, S s, int from, Instant now, List<OutgoingEvent> out) {
            String id = null; // the manager keys it by the saga id
            for (int j = from; j >= 0; j--) {
                Step<S> def = steps.get(j);
                if (def.compensation == null) {
                    history(data, now, def.name + ": nothing to compensate");
                    continue;
                }
                Object c = def.compensation.apply(s);
                emit(out, c, id);
                data.withArray("compensated").add(def.name);
                history(data, now, def.name + ": compensation sent " + c.getClass().getSimpleName());
                if (def.compensated != null) {
                    data.put("waiting", j);
                    return new Transition(ProcessStatus.COMPENSATING, data, null, out);
                }
            }
            data.put("waiting", -1);
            history(data, now, "compensated");
            if (onCompensated != null) {
                emit(out, onCompensated.apply(s), id);
            }
            return new Transition(ProcessStatus.COMPENSATED, data, null, out);
        }

        @Override
        ProcessView view(ProcessInstance p) {
            ObjectNode data = parse(p);
            ProcessStatus status = ProcessStatus.valueOf(p.status());
            String current = null;
            if (status == ProcessStatus.RUNNING) {
                current = steps.get(data.get("step").asInt()).name;
            } else if (status == ProcessStatus.COMPENSATING && data.get("waiting").asInt() >= 0) {
                current = steps.get(data.get("waiting").asInt()).name;
            }
            return new ProcessView(p.type(), p.id(), status, p.version(), current, strings(data, "completed"),
                    strings(data, "compensated"), strings(data, "history"), p.deadline());
        }
    }

    private static boolean contains(ObjectNode data, String field, String value) {
        if (!data.has(field)) {
            return false;
        }
        for (var n : (ArrayNode) data.get(field)) {
            if (n.asText().equals(value)) {
                return true;
            }
        }
        return false;
    }

    /** Emitted events are keyed by the saga id: the manager sets it on events published without a key. */
    private static void emit(List<OutgoingEvent> out, Object event, String id) {
        if (event == null) {
            throw new IllegalStateException("a saga action or compensation returned null: it must return the "
                    + "command or event to publish");
        }
        out.add(new OutgoingEvent(event, id == null ? PublishOptions.none() : PublishOptions.builder().key(id).build()));
    }

    /**
     * Builds a {@link SagaDefinition}: {@link #step} starts a step, and the calls after it ({@link #completedBy},
     * {@link #failedBy}, {@link #compensateWith}, {@link #compensatedBy}, {@link #timeout}) describe that step.
     * Not thread-safe.
     */
    public static final class Builder<S> {
        private final String name;
        private final Class<S> startType;
        private final ProcessLogic.Binding start;
        private final List<StepBuilder<S>> steps = new ArrayList<>();
        private Function<S, ?> onCompleted;
        private Function<S, ?> onCompensated;

        private Builder(String name, Class<S> startType, Function<? super S, String> correlation) {
            if (name == null || name.isBlank() || name.length() > 100) {
                throw new IllegalArgumentException("a saga name must be 1 to 100 characters, was '" + name + "'");
            }
            this.name = name;
            this.startType = Objects.requireNonNull(startType, "startType");
            this.start = binding(startType, correlation, ProcessLogic.Kind.START, -1);
        }

        /** Adds a step whose action builds the command or event to publish from the start event. */
        public Builder<S> step(String stepName, Function<? super S, ?> action) {
            Objects.requireNonNull(stepName, "step name");
            Objects.requireNonNull(action, "action");
            for (StepBuilder<S> s : steps) {
                if (s.name.equals(stepName)) {
                    throw new IllegalArgumentException("saga '" + name + "' has two steps named '" + stepName + "'");
                }
            }
            StepBuilder<S> s = new StepBuilder<>(stepName);
            s.action = cast(action);
            steps.add(s);
            return this;
        }

        /** The reply that completes the current step, correlated by {@code correlation}. Required for every step. */
        public <R> Builder<S> completedBy(Class<R> reply, Function<? super R, String> correlation) {
            last("completedBy").completed = binding(reply, Objects.requireNonNull(correlation, "correlation"),
                    ProcessLogic.Kind.COMPLETED, steps.size() - 1);
            return this;
        }

        /** The reply that completes the current step, correlated by its envelope's correlation id. */
        public <R> Builder<S> completedBy(Class<R> reply) {
            last("completedBy").completed = binding(reply, null, ProcessLogic.Kind.COMPLETED, steps.size() - 1);
            return this;
        }

        /** The reply that fails the current step (the saga then compensates), correlated by {@code correlation}. */
        public <R> Builder<S> failedBy(Class<R> reply, Function<? super R, String> correlation) {
            last("failedBy").failed = binding(reply, Objects.requireNonNull(correlation, "correlation"),
                    ProcessLogic.Kind.FAILED, steps.size() - 1);
            return this;
        }

        /** The reply that fails the current step, correlated by its envelope's correlation id. */
        public <R> Builder<S> failedBy(Class<R> reply) {
            last("failedBy").failed = binding(reply, null, ProcessLogic.Kind.FAILED, steps.size() - 1);
            return this;
        }

        /** The command or event that undoes the current step once it completed. Without one, nothing is undone. */
        public Builder<S> compensateWith(Function<? super S, ?> compensation) {
            last("compensateWith").compensation = cast(Objects.requireNonNull(compensation, "compensation"));
            return this;
        }

        /**
         * The reply confirming the current step's compensation: the saga waits for it before compensating the step
         * before (strict reverse order across services). Without it, compensations are sent one after the other in
         * one commit.
         */
        public <R> Builder<S> compensatedBy(Class<R> reply, Function<? super R, String> correlation) {
            last("compensatedBy").compensated = binding(reply, Objects.requireNonNull(correlation, "correlation"),
                    ProcessLogic.Kind.COMPENSATED, steps.size() - 1);
            return this;
        }

        /** How long the current step may wait for its reply; then the saga compensates as on a failure. */
        public Builder<S> timeout(Duration timeout) {
            if (timeout == null || timeout.isNegative() || timeout.isZero()) {
                throw new IllegalArgumentException("a step timeout must be positive, was " + timeout);
            }
            last("timeout").timeout = timeout;
            return this;
        }

        /** The event to publish when every step completed (optional). */
        public Builder<S> onCompleted(Function<? super S, ?> event) {
            this.onCompleted = cast(Objects.requireNonNull(event, "event"));
            return this;
        }

        /** The event to publish when the compensations are done (optional). */
        public Builder<S> onCompensated(Function<? super S, ?> event) {
            this.onCompensated = cast(Objects.requireNonNull(event, "event"));
            return this;
        }

        /**
         * @throws IllegalStateException when there is no step, a step has no {@link #completedBy} reply, or one event
         *                               type has two roles in this saga
         */
        public SagaDefinition<S> build() {
            if (steps.isEmpty()) {
                throw new IllegalStateException("saga '" + name + "' has no step: add one with step(name, action)");
            }
            Set<Class<?>> seen = new HashSet<>();
            seen.add(startType);
            for (StepBuilder<S> s : steps) {
                if (s.completed == null) {
                    throw new IllegalStateException("saga '" + name + "' step '" + s.name
                            + "' has no completedBy(reply): a step needs the reply that completes it");
                }
                for (ProcessLogic.Binding b : new ProcessLogic.Binding[] {s.completed, s.failed, s.compensated}) {
                    if (b != null && !seen.add(b.type())) {
                        throw new IllegalStateException("saga '" + name + "' uses " + b.type().getName()
                                + " twice (start, completedBy, failedBy or compensatedBy): each event type can "
                                + "have one role in a saga");
                    }
                }
            }
            return new SagaDefinition<>(this);
        }

        private StepBuilder<S> last(String what) {
            if (steps.isEmpty()) {
                throw new IllegalStateException(what + "(...) describes a step: call step(name, action) first");
            }
            return steps.get(steps.size() - 1);
        }

        @SuppressWarnings("unchecked")
        private static <S> Function<S, ?> cast(Function<? super S, ?> f) {
            return (Function<S, ?>) f;
        }
    }

    private static final class StepBuilder<S> {
        final String name;
        Function<S, ?> action;
        Function<S, ?> compensation;
        Duration timeout;
        ProcessLogic.Binding completed;
        ProcessLogic.Binding failed;
        ProcessLogic.Binding compensated;

        StepBuilder(String name) {
            this.name = name;
        }
    }
}
