package dev.eventbus;

/**
 * What a consumer does with a message whose CloudEvents {@code type} names no event class registered on this bus.
 * (A registered type that no subscriber of the group wants is always skipped, without decoding it.)
 */
public enum UnknownTypePolicy {
    /** Dead-letter it with the reason, so nothing is lost silently. The default. */
    DEAD_LETTER,
    /** Acknowledge and drop it, counting it in {@link EventBus.Stats#unknownTypes()}. */
    IGNORE
}
