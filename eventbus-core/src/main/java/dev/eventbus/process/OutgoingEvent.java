package dev.eventbus.process;

import dev.eventbus.PublishOptions;

import java.util.Objects;

/**
 * An event or command a process emits in a state change, with its publish options (the key is the process's
 * correlation id unless the options give another). A {@link ProcessStore} commits it with the state change.
 *
 * <p>An immutable value; thread-safe.
 */
public record OutgoingEvent(Object event, PublishOptions options) {

    public OutgoingEvent {
        Objects.requireNonNull(event, "event");
        Objects.requireNonNull(options, "options");
    }
}
