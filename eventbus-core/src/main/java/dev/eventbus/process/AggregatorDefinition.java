package dev.eventbus.process;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.eventbus.PublishOptions;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * An aggregation: collects one event of each of a set of types for one correlation id, in any order, and publishes
 * a composite event when all have arrived; optionally, when a window opened by the first part closes first, a
 * partial (timeout) event instead.
 *
 * <pre>{@code
 * AggregatorDefinition activation = AggregatorDefinition.builder("user-activation")
 *     .collect(UserRegistered.class, UserRegistered::userId)
 *     .collect(EmailVerified.class, EmailVerified::userId)
 *     .collect(ProfileCompleted.class, ProfileCompleted::userId)
 *     .onComplete(parts -> new UserActivated(parts.id(), parts.get(UserRegistered.class).email()))
 *     .window(Duration.ofDays(7), parts -> new ActivationAbandoned(parts.id(), parts.received()))
 *     .build();
 * }</pre>
 *
 * <p>A second event of a type already collected (a redelivery, or a repeat with another id) is ignored: the first
 * one counts. Events after completion or after the window closed are ignored. The collected events are stored as
 * JSON (with Jackson), so they must be serializable. Functions must be pure: they may run more than once.
 *
 * <p>Immutable and thread-safe once built; run it with a {@link ProcessManager}.
 */
public final class AggregatorDefinition {

    private final String name;
    private final List<ProcessLogic.Binding> bindings;
    private final Map<String, Class<?>> types;
    private final Function<Parts, ?> onComplete;
    private final Duration window;
    private final Function<Parts, ?> onTimeout;
    private final Logic logic = new Logic();

    private AggregatorDefinition(Builder b) {
        this.name = b.name;
        this.bindings = List.copyOf(b.bindings);
        this.types = Map.copyOf(b.types);
        this.onComplete = b.onComplete;
        this.window = b.window;
        this.onTimeout = b.onTimeout;
    }

    /** A builder for an aggregation named {@code name} (its process type in the store: keep it stable). */
    public static Builder builder(String name) {
        return new Builder(name);
    }

    /** The aggregation's name: its process type in the store. */
    public String name() {
        return name;
    }

    ProcessLogic logic() {
        return logic;
    }

    @Override
    public String toString() {
        return "AggregatorDefinition{" + name + ", collects=" + types.keySet() + '}';
    }

    private final class Logic extends ProcessLogic {

        @Override
        String name() {
            return name;
        }

        @Override
        List<Binding> bindings() {
            return bindings;
        }

        @Override
        Transition onEvent(String id, ProcessInstance current, Binding binding, Object event, Instant now) {
            ObjectNode data;
            Instant deadline;
            if (current == null) {
                data = JSON.createObjectNode();
                data.putObject("parts");
                deadline = window == null ? null : now.plus(window);
            } else {
                if (current.isFinished()) {
                    return null; // late: completed or timed out already
                }
                data = parse(current);
                deadline = current.deadline();
            }
            ObjectNode parts = (ObjectNode) data.get("parts");
            String type = binding.type().getName();
            if (parts.has(type)) {
                return null; // a duplicate: the first one counts
            }
            parts.set(type, JSON.valueToTree(event));
            history(data, now, "received " + binding.type().getSimpleName());
            if (parts.size() < types.size()) {
                return new Transition(ProcessStatus.RUNNING, data, deadline, List.of());
            }
            Object composite = onComplete.apply(new Parts(id, parts, types));
            history(data, now, "completed: published " + composite.getClass().getSimpleName());
            return new Transition(ProcessStatus.COMPLETED, data, null,
                    List.of(new OutgoingEvent(composite, PublishOptions.none())));
        }

        @Override
        Transition onTimeout(ProcessInstance current, Instant now) {
            if (current.isFinished()) {
                return null;
            }
            ObjectNode data = parse(current);
            List<OutgoingEvent> out = new ArrayList<>();
            Object partial = onTimeout == null ? null
                    : onTimeout.apply(new Parts(current.id(), (ObjectNode) data.get("parts"), types));
            if (partial != null) {
                out.add(new OutgoingEvent(partial, PublishOptions.none()));
                history(data, now, "window closed: published " + partial.getClass().getSimpleName());
            } else {
                history(data, now, "window closed");
            }
            return new Transition(ProcessStatus.TIMED_OUT, data, null, out);
        }

        @Override
        ProcessView view(ProcessInstance p) {
            ObjectNode data = parse(p);
            return new ProcessView(p.type(), p.id(), ProcessStatus.valueOf(p.status()), p.version(), null,
                    new Parts(p.id(), (ObjectNode) data.get("parts"), types).received(), List.of(),
                    strings(data, "history"), p.deadline());
        }
    }

    /** Builds an {@link AggregatorDefinition}. Not thread-safe. */
    public static final class Builder {
        private final String name;
        private final List<ProcessLogic.Binding> bindings = new ArrayList<>();
        private final Map<String, Class<?>> types = new LinkedHashMap<>();
        private Function<Parts, ?> onComplete;
        private Duration window;
        private Function<Parts, ?> onTimeout;

        private Builder(String name) {
            if (name == null || name.isBlank() || name.length() > 100) {
                throw new IllegalArgumentException("an aggregator name must be 1 to 100 characters, was '" + name + "'");
            }
            this.name = name;
        }

        /** Collects events of {@code type}, correlated by {@code correlation}. */
        @SuppressWarnings("unchecked")
        public <E> Builder collect(Class<E> type, Function<? super E, String> correlation) {
            Objects.requireNonNull(correlation, "correlation");
            return add(type, (Function<Object, String>) correlation);
        }

        /** Collects events of {@code type}, correlated by their envelope's correlation id. */
        public <E> Builder collect(Class<E> type) {
            return add(type, null);
        }

        private Builder add(Class<?> type, Function<Object, String> correlation) {
            Objects.requireNonNull(type, "type");
            if (types.putIfAbsent(type.getName(), type) != null) {
                throw new IllegalArgumentException("aggregator '" + name + "' collects " + type.getName() + " twice");
            }
            bindings.add(new ProcessLogic.Binding(type, correlation, ProcessLogic.Kind.PART, -1));
            return this;
        }

        /** Builds the composite event once every type has arrived. Required. */
        public Builder onComplete(Function<Parts, ?> composite) {
            this.onComplete = Objects.requireNonNull(composite, "composite");
            return this;
        }

        /**
         * Closes the aggregation {@code window} after its first part arrived; {@code partial} builds the event to
         * publish then from what arrived (or returns null to publish nothing).
         */
        public Builder window(Duration window, Function<Parts, ?> partial) {
            if (window == null || window.isNegative() || window.isZero()) {
                throw new IllegalArgumentException("an aggregation window must be positive, was " + window);
            }
            this.window = window;
            this.onTimeout = partial;
            return this;
        }

        /** @throws IllegalStateException when fewer than two types are collected or there is no onComplete */
        public AggregatorDefinition build() {
            if (types.size() < 2) {
                throw new IllegalStateException("aggregator '" + name + "' collects " + types.size()
                        + " event type(s): collect(type, correlation) at least two");
            }
            if (onComplete == null) {
                throw new IllegalStateException("aggregator '" + name + "' has no onComplete(parts -> event)");
            }
            return new AggregatorDefinition(this);
        }
    }
}
