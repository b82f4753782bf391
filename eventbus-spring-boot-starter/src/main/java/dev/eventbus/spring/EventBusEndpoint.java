package dev.eventbus.spring;

import dev.eventbus.DeadLetter;
import dev.eventbus.EventBus;
import org.jspecify.annotations.Nullable;
import org.springframework.boot.actuate.endpoint.annotation.Endpoint;
import org.springframework.boot.actuate.endpoint.annotation.ReadOperation;
import org.springframework.boot.actuate.endpoint.annotation.Selector;
import org.springframework.boot.actuate.endpoint.annotation.WriteOperation;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The {@code eventbus} actuator endpoint: {@code GET /actuator/eventbus} lists dead letters (optionally
 * {@code ?group=...&limit=...}, default 100), {@code POST /actuator/eventbus/{id}} replays one. Secured like every
 * actuator endpoint: not exposed over the web unless {@code management.endpoints.web.exposure.include} names
 * {@code eventbus}; access is controlled with {@code management.endpoint.eventbus.access} (e.g. {@code read-only}
 * to allow listing but not replay) and by your Spring Security rules.
 *
 * <p>Thread-safe. Operations block on the transports' I/O.
 */
@Endpoint(id = "eventbus")
public class EventBusEndpoint {

    private static final int MAX_LIMIT = 10_000;

    private final EventBus bus;

    public EventBusEndpoint(EventBus bus) {
        this.bus = Objects.requireNonNull(bus, "bus");
    }

    /** The service name, counters and up to {@code limit} dead letters of {@code group} (all groups when absent). */
    @ReadOperation
    public Map<String, Object> deadLetters(@Nullable String group, @Nullable Integer limit) {
        int n = limit == null ? 100 : Math.max(1, Math.min(MAX_LIMIT, limit));
        List<Map<String, Object>> out = new ArrayList<>();
        for (DeadLetter d : bus.deadLetters().list(group, n)) {
            out.add(describe(d));
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("service", bus.serviceName());
        body.put("stats", bus.stats());
        body.put("deadLetters", out);
        return body;
    }

    /**
     * Replays the dead letter with this id to its group. The id is the rest of the path, so ids with slashes (a
     * Kafka dead letter's {@code topic/partition/offset}) work: {@code POST /actuator/eventbus/orders.DLT/0/17}.
     *
     * @return {@code replayed: false} when no dead letter has this id (already replayed, or never existed)
     */
    @WriteOperation
    public Map<String, Object> replay(@Selector(match = Selector.Match.ALL_REMAINING) String... idSegments) {
        String id = String.join("/", idSegments);
        for (DeadLetter d : bus.deadLetters().list(null, MAX_LIMIT)) {
            if (d.id().equals(id)) {
                boolean done = bus.deadLetters().replay(d);
                return Map.of("id", id, "replayed", done);
            }
        }
        return Map.of("id", id, "replayed", false);
    }

    static Map<String, Object> describe(DeadLetter d) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", d.id());
        m.put("group", d.group());
        m.put("type", d.type());
        m.put("stream", d.originalStream());
        m.put("key", d.message().key());
        m.put("reason", d.reason());
        m.put("exception", d.exceptionClass());
        m.put("attempts", d.attempts());
        m.put("deadAt", d.deadAt() == null ? null : d.deadAt().toString());
        return m;
    }
}
