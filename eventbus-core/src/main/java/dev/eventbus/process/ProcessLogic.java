package dev.eventbus.process;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.time.Instant;
import java.util.List;
import java.util.function.Function;

/**
 * What a definition (saga or aggregator) gives the {@link ProcessManager}: the events it takes and, for each one or
 * a timeout, the pure transition from the stored state to the next. Transitions never publish or store anything
 * themselves: the manager commits their result, so a conflict or a duplicate simply throws it away.
 */
abstract class ProcessLogic {

    static final ObjectMapper JSON = JsonMapper.builder().findAndAddModules()
            .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS).build();

    /** One event class a definition takes, how to find its correlation id, and what it means to the definition. */
    record Binding(Class<?> type, Function<Object, String> correlation, Kind kind, int step) {
    }

    enum Kind { START, COMPLETED, FAILED, COMPENSATED, PART }

    /** The next state, or null from a transition for "nothing to do" (a stale, late or duplicate event). */
    record Transition(ProcessStatus status, ObjectNode data, Instant deadline, List<OutgoingEvent> emitted) {
    }

    abstract String name();

    abstract List<Binding> bindings();

    abstract Transition onEvent(String id, ProcessInstance current, Binding binding, Object event, Instant now);

    /** The transition when {@code current}'s deadline has passed (it has one, and is not finished). */
    abstract Transition onTimeout(ProcessInstance current, Instant now);

    abstract ProcessView view(ProcessInstance instance);

    static ObjectNode parse(ProcessInstance p) {
        try {
            return (ObjectNode) JSON.readTree(p.data());
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("process " + p.type() + "/" + p.id() + " has unreadable state: "
                    + e.getOriginalMessage(), e);
        }
    }

    static String text(ObjectNode data) {
        try {
            return JSON.writeValueAsString(data);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write process state: " + e.getOriginalMessage(), e);
        }
    }

    static <T> T read(ObjectNode node, String field, Class<T> type) {
        try {
            return JSON.treeToValue(node.get(field), type);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot read " + type.getName() + " from process state: "
                    + e.getOriginalMessage(), e);
        }
    }

    static void history(ObjectNode data, Instant now, String entry) {
        data.withArray("history").add(now + " " + entry);
    }

    static List<String> strings(ObjectNode data, String field) {
        List<String> out = new java.util.ArrayList<>();
        if (data.has(field)) {
            data.get(field).forEach(n -> out.add(n.asText()));
        }
        return out;
    }
}
