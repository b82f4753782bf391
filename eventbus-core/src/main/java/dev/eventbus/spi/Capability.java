package dev.eventbus.spi;

/**
 * Optional abilities a {@link Transport} declares. The bus adapts to them (for example it emulates a delayed
 * publish on a transport without {@link #DELAYED_DELIVERY} by refusing it clearly) and the contract suite skips
 * nothing silently: a test for an ability the transport lacks asserts that the ability is declared absent.
 */
public enum Capability {
    /** Messages survive a restart of the application (and of the broker, where there is one). */
    DURABLE,
    /** Subscriptions of one group on several instances share the messages between them. */
    COMPETING_CONSUMERS,
    /** Messages with the same key on one stream are handed over in the order they were sent. */
    PER_KEY_ORDER,
    /** {@link TransportMessage#deliverAt()} is honoured. */
    DELAYED_DELIVERY,
    /** {@link TransportMessage#priority()} is honoured. */
    PRIORITY,
    /** {@link Transport#sendBatch} is all-or-nothing. */
    TRANSACTIONAL_BATCH,
    /** {@link Transport#deadLetters()} can list and replay dead letters. */
    DEAD_LETTER_STORE,
    /** A message handed to a subscription that closed (or crashed) without acknowledging it is redelivered. */
    REDELIVERY_AFTER_CRASH,
    /** {@link Transport#replay} moves a consumer group back (or forward) to a time or a position. */
    REPLAY
}
