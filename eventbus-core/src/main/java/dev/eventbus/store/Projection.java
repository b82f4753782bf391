package dev.eventbus.store;

/**
 * A read model kept up to date from the store's events, in global order (CQRS). {@link Projector} runs it over
 * an in-memory model; the JDBC module's {@code JdbcProjector} runs its JDBC counterpart.
 *
 * <pre>{@code
 * Projection<Map<String, Long>> balances = Projection.of("balances", ConcurrentHashMap::new, (m, e) -> {
 *     if (e.event() instanceof Deposited d) m.merge(d.account(), d.cents(), Long::sum);
 * });
 * }</pre>
 *
 * <p>{@link #apply} is called from one thread at a time per model. It must be deterministic (a rebuild from
 * position 1 has to give the same model) and should not throw: a throw stops the projection at that event.
 *
 * @param <M> the read model type
 */
public interface Projection<M> {

    /** A unique, stable name. */
    String name();

    /** A fresh, empty read model (used at start and by every rebuild). */
    M newReadModel();

    /** Applies one event to the model. */
    void apply(M model, RecordedEvent<?> event);

    /** A projection from a name, a model factory and an apply function. */
    static <M> Projection<M> of(String name, java.util.function.Supplier<M> newModel,
                                java.util.function.BiConsumer<M, RecordedEvent<?>> apply) {
        java.util.Objects.requireNonNull(name, "name");
        java.util.Objects.requireNonNull(newModel, "newModel");
        java.util.Objects.requireNonNull(apply, "apply");
        return new Projection<>() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public M newReadModel() {
                return newModel.get();
            }

            @Override
            public void apply(M model, RecordedEvent<?> event) {
                apply.accept(model, event);
            }
        };
    }
}
