package dev.eventbus.spi;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * An optional ability of a {@link Transport} (detected with {@code instanceof}): says whether its broker or
 * database answers right now, for health endpoints such as Spring Boot's actuator.
 *
 * <p>Implementations must be thread-safe, must not throw (a failure is a {@link Result#down} with the reason) and
 * must block for no longer than about the timeout given. A closed transport reports down.
 */
public interface HealthCheck {

    /**
     * Asks the broker or database whether it is reachable. Blocks up to about {@code timeout}.
     *
     * @return up or down, with details worth showing an operator (never secrets)
     */
    Result check(Duration timeout);

    /**
     * The answer of a {@link HealthCheck}. Immutable.
     *
     * @param up      whether the broker or database answered
     * @param details what was checked (e.g. {@code brokers=3}) or why it failed ({@code error})
     */
    record Result(boolean up, Map<String, Object> details) {
        public Result {
            details = Map.copyOf(Objects.requireNonNull(details, "details"));
        }

        /** Reachable, with details. */
        public static Result up(Map<String, Object> details) {
            return new Result(true, details);
        }

        /** Not reachable; {@code error} says why. */
        public static Result down(String error, Map<String, Object> details) {
            Map<String, Object> d = new LinkedHashMap<>(details);
            d.put("error", String.valueOf(error));
            return new Result(false, d);
        }
    }
}
