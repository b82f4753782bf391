package dev.eventbus.process;

import java.time.Instant;
import java.util.List;

/**
 * The answer to "where is process X": its status, the step it waits on, what ran, what was compensated, and its
 * history, one line per thing that happened ({@code <time> <what>}). For an aggregation, {@code completed} lists
 * the parts received and {@code current} is null.
 *
 * <p>An immutable snapshot; thread-safe.
 *
 * @param type        the definition's name
 * @param id          the correlation id
 * @param status      where the process is
 * @param version     its stored version
 * @param current     the step whose reply it waits for (saga, {@link ProcessStatus#RUNNING}), or the step whose
 *                    compensation it waits for ({@link ProcessStatus#COMPENSATING}); otherwise null
 * @param completed   saga steps that replied, in order; or aggregation parts received (event class simple names)
 * @param compensated saga steps whose compensation was sent, in the order it was sent
 * @param history     what happened, oldest first
 * @param deadline    when the current timeout falls due, or null
 */
public record ProcessView(String type, String id, ProcessStatus status, long version, String current,
                          List<String> completed, List<String> compensated, List<String> history, Instant deadline) {

    public ProcessView {
        completed = List.copyOf(completed);
        compensated = List.copyOf(compensated);
        history = List.copyOf(history);
    }
}
