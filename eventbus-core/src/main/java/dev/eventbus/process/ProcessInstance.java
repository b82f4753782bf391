package dev.eventbus.process;

import java.time.Instant;
import java.util.Objects;

/**
 * One stored process (a saga or an aggregation): its key (process type + correlation id), its version for
 * optimistic concurrency, its status, its state as JSON text, and its deadline (when its current timeout falls
 * due, or null).
 *
 * <p>An immutable value; thread-safe.
 *
 * @param type          the definition's name, e.g. {@code order-saga}
 * @param id            the correlation id
 * @param version       1 for a new process, one more on every update; {@link ProcessStore#commit} checks it
 * @param status        the {@link ProcessStatus} name
 * @param data          the state as JSON text, written and read only by the definition
 * @param deadline      when the process's timeout falls due, or null for none
 * @param updated       when it was last written
 */
public record ProcessInstance(String type, String id, long version, String status, String data, Instant deadline,
                              Instant updated) {

    public ProcessInstance {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(status, "status");
        Objects.requireNonNull(data, "data");
        if (version < 1) {
            throw new IllegalArgumentException("version must be 1 or more, was " + version);
        }
    }

    /** True when the process is finished (completed, compensated or timed out) and takes no more events. */
    public boolean isFinished() {
        return ProcessStatus.valueOf(status).isFinished();
    }
}
