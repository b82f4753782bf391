package dev.eventbus;

/**
 * What a publish made while handling an event inherits from that event: its id (the new event's causation id), its
 * correlation id and its trace context. An {@link Envelope} is one; so are the ids a dispatch frame draws before
 * its envelope is built (see {@link DispatchContext}). Implementations are immutable.
 */
interface Lineage {

    String id();

    String correlationId();

    String traceparent();
}
