package dev.eventbus.process;

import dev.eventbus.EventBusException;

/**
 * A process was changed by someone else between reading and writing it (its version moved on), or was created
 * twice at once. Retriable: the {@link ProcessManager} reads the process again and reapplies the event; after
 * a few conflicts in a row it throws this to the bus, whose retry policy redelivers the event later.
 */
public class ProcessConflictException extends EventBusException {
    private static final long serialVersionUID = 1L;

    public ProcessConflictException(String message) {
        super(message, null, true);
    }
}
