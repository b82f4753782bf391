package dev.eventbus.process;

import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The events an aggregation has collected for one correlation id, by type: what an
 * {@link AggregatorDefinition}'s completion and timeout functions build their event from.
 *
 * <p>Read-only; each {@link #get} reads the stored part again (the parts are kept as JSON with the process).
 * Use it only inside the function it was handed to.
 */
public final class Parts {

    private final String id;
    private final ObjectNode parts;
    private final Map<String, Class<?>> types;

    Parts(String id, ObjectNode parts, Map<String, Class<?>> types) {
        this.id = id;
        this.parts = parts;
        this.types = types;
    }

    /** The correlation id of the aggregation. */
    public String id() {
        return id;
    }

    /** True when an event of {@code type} has arrived. */
    public boolean has(Class<?> type) {
        return parts.has(type.getName());
    }

    /**
     * The first event of {@code type} that arrived.
     *
     * @throws IllegalArgumentException when none arrived (check {@link #has}: a timeout gets the partial set) or
     *                                  the aggregator does not collect {@code type}
     */
    public <T> T get(Class<T> type) {
        Objects.requireNonNull(type, "type");
        if (!types.containsKey(type.getName())) {
            throw new IllegalArgumentException("this aggregator does not collect " + type.getName()
                    + "; it collects " + types.keySet());
        }
        if (!parts.has(type.getName())) {
            throw new IllegalArgumentException("no " + type.getSimpleName() + " arrived for " + id);
        }
        return ProcessLogic.read(parts, type.getName(), type);
    }

    /** The simple names of the types that arrived, in arrival order. */
    public List<String> received() {
        List<String> out = new java.util.ArrayList<>();
        parts.fieldNames().forEachRemaining(n -> out.add(types.get(n).getSimpleName()));
        return out;
    }

    @Override
    public String toString() {
        return "Parts{" + id + ", received=" + received() + '}';
    }
}
