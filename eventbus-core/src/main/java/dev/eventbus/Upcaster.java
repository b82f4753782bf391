package dev.eventbus;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Turns the JSON of one event type from schema version {@link #fromVersion()} into {@code fromVersion() + 1}, on
 * read. {@link JsonSerializer} chains them, so a version-1 event reaches a version-3 class through 1&rarr;2 and
 * 2&rarr;3.
 *
 * <pre>{@code
 * Upcaster.of("order.placed", 1, json -> json.put("currency", "EUR"))
 * }</pre>
 *
 * <p>Must be thread-safe and side-effect free apart from changing the node it is given.
 */
public interface Upcaster {

    /** The wire type name it applies to. */
    String type();

    /** The version it reads; it produces {@code fromVersion() + 1}. */
    int fromVersion();

    /** Changes {@code json} in place (or returns a new node) to the next version's shape. */
    ObjectNode upcast(ObjectNode json);

    /** An upcaster from a lambda. */
    static Upcaster of(String type, int fromVersion, java.util.function.UnaryOperator<ObjectNode> change) {
        return new Upcaster() {
            @Override
            public String type() {
                return type;
            }

            @Override
            public int fromVersion() {
                return fromVersion;
            }

            @Override
            public ObjectNode upcast(ObjectNode json) {
                return change.apply(json);
            }

            @Override
            public String toString() {
                return "Upcaster{" + type + " v" + fromVersion + "->v" + (fromVersion + 1) + '}';
            }
        };
    }
}
