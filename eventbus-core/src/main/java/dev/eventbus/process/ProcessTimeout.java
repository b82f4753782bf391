package dev.eventbus.process;

import dev.eventbus.Event;
import dev.eventbus.EventType;

/**
 * The delayed message a {@link ProcessManager} publishes for a process's deadline when it uses delayed delivery
 * for timeouts: on a due {@code ProcessTimeout} it fires the timeout, once (the stored deadline must still be
 * {@code deadlineMillis}, and the timeout's id is recorded as applied, so the polled deadline and this message
 * never fire it twice). Applications do not publish it.
 *
 * <p>An immutable value; thread-safe.
 *
 * @param processType    the definition's name
 * @param processId      the correlation id
 * @param deadlineMillis the deadline it stands for, in epoch milliseconds
 */
@EventType(name = "eventbus.process-timeout")
public record ProcessTimeout(String processType, String processId, long deadlineMillis) implements Event {

    @Override
    public String eventKey() {
        return processId;
    }
}
