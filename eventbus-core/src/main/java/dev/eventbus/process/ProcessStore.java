package dev.eventbus.process;

import java.time.Instant;
import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * Where process state lives, keyed by process type + correlation id, with optimistic concurrency, the ids of the
 * messages each process has applied, and the deadlines of its timeouts. {@link InMemoryProcessStore} keeps it in
 * memory; {@code dev.eventbus.jdbc.JdbcProcessStore} (module {@code eventbus-jdbc-outbox}) in a database, where the
 * state change, the processed message id and the emitted events (through the transactional outbox) are one
 * transaction.
 *
 * <p>Implementations are thread-safe. Calls block on the storage (a database round trip); they throw
 * {@link dev.eventbus.EventBusException} when the storage fails. The store does not own the bus or the data
 * source: whoever built them closes them.
 */
public interface ProcessStore {

    /** What {@link #commit} did. */
    enum CommitResult {
        /** The state, the message id and the emitted events are committed. */
        COMMITTED,
        /** The message id was already applied to this process: nothing was written. */
        DUPLICATE
    }

    /** The process {@code type}/{@code id}, or empty when there is none. */
    Optional<ProcessInstance> find(String type, String id);

    /**
     * Writes {@code next} if the stored version is {@code next.version() - 1} (absent for version 1), records
     * {@code messageId} as applied to it, and commits {@code emitted} with it, all or nothing.
     *
     * @param messageId the id of the message being applied (the envelope id, or a timeout's own id)
     * @param emitted   events to publish with the change; a store that {@link #publishesEmitted() publishes} them
     *                  commits them in the same transaction; otherwise the caller publishes them after this returns
     * @return {@link CommitResult#DUPLICATE} when {@code messageId} was applied to this process before
     * @throws ProcessConflictException when the stored version is not the expected one
     */
    CommitResult commit(ProcessInstance next, String messageId, List<OutgoingEvent> emitted);

    /**
     * Up to {@code limit} unfinished processes of the given types whose deadline is at or before {@code now},
     * earliest first.
     */
    List<ProcessInstance> due(Collection<String> types, Instant now, int limit);

    /**
     * True when {@link #commit} makes the emitted events durable in the same transaction as the state (the
     * JDBC store, through the outbox); false when the caller must publish them after the commit (in memory).
     */
    boolean publishesEmitted();
}
