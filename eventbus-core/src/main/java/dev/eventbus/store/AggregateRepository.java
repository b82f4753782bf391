package dev.eventbus.store;

import dev.eventbus.EventBusException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * Loads an aggregate by folding its events into a state, and saves new events with the version it was loaded at
 * (optimistic concurrency). Optionally snapshots the state every {@code n} events, so a load folds only the tail.
 *
 * <pre>{@code
 * AggregateRepository<Account> accounts = AggregateRepository.builder(store, Account::empty, Account::apply)
 *         .snapshotEvery(100, Account.class).build();
 * Aggregate<Account> a = accounts.load("account-42");
 * accounts.save(a, a.state().withdraw(30));   // ConcurrencyException when someone appended since load
 * }</pre>
 *
 * <p>The fold function must be pure: it returns the state after one event (a new object, or the same one
 * changed). Thread-safe when the store is; blocks for the store's I/O; holds nothing to close.
 *
 * @param <S> the state type
 */
public final class AggregateRepository<S> {

    private static final Logger log = LoggerFactory.getLogger(AggregateRepository.class);

    private final EventStore store;
    private final Supplier<S> initial;
    private final BiFunction<S, Object, S> apply;
    private final int snapshotEvery;
    private final Class<S> stateType;

    private AggregateRepository(Builder<S> b) {
        this.store = b.store;
        this.initial = b.initial;
        this.apply = b.apply;
        this.snapshotEvery = b.snapshotEvery;
        this.stateType = b.stateType;
    }

    /**
     * @param initial the state of an aggregate without events (called once per load)
     * @param apply   the state after one more event
     */
    public static <S> Builder<S> builder(EventStore store, Supplier<S> initial, BiFunction<S, Object, S> apply) {
        return new Builder<>(store, initial, apply);
    }

    /**
     * The aggregate's current state: the latest snapshot (if any) plus the events after it, folded in version
     * order. A stream that does not exist loads as the initial state at version 0.
     *
     * @throws EventBusException when the store fails or an event cannot be decoded
     */
    public Aggregate<S> load(String streamId) {
        S state = null;
        long version = 0;
        if (snapshotEvery > 0) {
            Optional<Snapshot<S>> snap = store.loadSnapshot(streamId, stateType);
            if (snap.isPresent()) {
                state = snap.get().state();
                version = snap.get().version();
            }
        }
        if (state == null) {
            state = Objects.requireNonNull(initial.get(), "the initial state supplier returned null");
        }
        for (RecordedEvent<?> e : store.read(streamId, version + 1)) {
            state = fold(state, e.event());
            version = e.version();
        }
        return new Aggregate<>(streamId, state, version);
    }

    /**
     * Appends {@code events} expecting the stream still at {@code loaded.version()}.
     *
     * @return the aggregate after the events: their state and the stream's new version
     * @throws ConcurrencyException when another writer appended since {@code loaded} was loaded
     */
    public Aggregate<S> save(Aggregate<S> loaded, List<?> events) {
        long newVersion = store.append(loaded.streamId(), ExpectedVersion.exactly(loaded.version()), events);
        S state = loaded.state();
        for (Object e : events) {
            state = fold(state, e);
        }
        if (snapshotEvery > 0 && newVersion / snapshotEvery > loaded.version() / snapshotEvery) {
            try {
                store.saveSnapshot(new Snapshot<>(loaded.streamId(), newVersion, state));
            } catch (EventBusException e) {
                // A snapshot is a cache: the events are stored, the next load folds a little more.
                log.warn("could not snapshot stream '{}' at version {}: {}", loaded.streamId(), newVersion,
                        e.getMessage());
            }
        }
        return new Aggregate<>(loaded.streamId(), state, newVersion);
    }

    /** {@link #save(Aggregate, List)} with one or more events. */
    public Aggregate<S> save(Aggregate<S> loaded, Object event, Object... more) {
        Object[] all = new Object[more.length + 1];
        all[0] = event;
        System.arraycopy(more, 0, all, 1, more.length);
        return save(loaded, List.of(all));
    }

    /**
     * Loads the aggregate, asks {@code decide} for the events its command produces, and saves them; loads and
     * decides again (up to {@code attempts} times in all) when another writer got there first.
     *
     * @return the aggregate after the events (unchanged when {@code decide} returned none)
     * @throws ConcurrencyException when every attempt lost the race
     */
    public Aggregate<S> update(String streamId, int attempts, Function<Aggregate<S>, List<?>> decide) {
        if (attempts < 1) {
            throw new IllegalArgumentException("attempts must be 1 or more, was " + attempts);
        }
        for (int i = 1; ; i++) {
            Aggregate<S> a = load(streamId);
            List<?> events = decide.apply(a);
            if (events == null || events.isEmpty()) {
                return a;
            }
            try {
                return save(a, events);
            } catch (ConcurrencyException e) {
                if (i >= attempts) {
                    throw e;
                }
            }
        }
    }

    private S fold(S state, Object event) {
        return Objects.requireNonNull(apply.apply(state, event), "the fold function returned null");
    }

    /** Builds an {@link AggregateRepository}. Not thread-safe. */
    public static final class Builder<S> {
        private final EventStore store;
        private final Supplier<S> initial;
        private final BiFunction<S, Object, S> apply;
        private int snapshotEvery;
        private Class<S> stateType;

        private Builder(EventStore store, Supplier<S> initial, BiFunction<S, Object, S> apply) {
            this.store = Objects.requireNonNull(store, "store");
            this.initial = Objects.requireNonNull(initial, "initial");
            this.apply = Objects.requireNonNull(apply, "apply");
        }

        /**
         * Snapshots the state (as JSON, so {@code stateType} must be readable by Jackson) whenever a save crosses a
         * multiple of {@code events} versions; loads start from the latest snapshot.
         */
        public Builder<S> snapshotEvery(int events, Class<S> stateType) {
            if (events < 1) {
                throw new IllegalArgumentException("snapshotEvery must be 1 or more, was " + events);
            }
            this.snapshotEvery = events;
            this.stateType = Objects.requireNonNull(stateType, "stateType");
            return this;
        }

        public AggregateRepository<S> build() {
            return new AggregateRepository<>(this);
        }
    }
}
