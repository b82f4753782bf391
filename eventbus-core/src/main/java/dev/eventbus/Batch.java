package dev.eventbus;

import java.util.AbstractList;
import java.util.List;
import java.util.Objects;

/**
 * The events a batch subscriber receives in one call, with their envelopes, in the order they arrived (per key, the
 * order they were published).
 *
 * <pre>{@code
 * @Subscribe(group = "audit", batchSize = 100, batchWait = "200ms")
 * void on(Batch<OrderPlaced> batch) {
 *     insertAll(batch.events());                   // one multi-row insert
 *     log.info("ids {} .. {}", batch.envelopes().get(0).id(), batch.envelopes().get(batch.size() - 1).id());
 * }
 * }</pre>
 *
 * <p>A method may take {@code List<E>} instead when it needs only the events. See {@link Subscribe#batchSize()}
 * for sizes, waits, acknowledgement and what happens when the call throws.
 *
 * <p>Immutable and thread-safe; valid after the call returns, but holding on to it keeps its events alive.
 *
 * @param <E> the event type the subscriber declared
 */
public final class Batch<E> {

    private final List<Envelope<E>> envelopes;
    private final List<E> events;

    Batch(List<Envelope<E>> envelopes) {
        this.envelopes = List.copyOf(Objects.requireNonNull(envelopes, "envelopes"));
        List<Envelope<E>> es = this.envelopes;
        this.events = new AbstractList<>() {
            @Override
            public E get(int index) {
                return es.get(index).event();
            }

            @Override
            public int size() {
                return es.size();
            }
        };
    }

    /** The envelopes, in arrival order; unmodifiable. Never empty. */
    public List<Envelope<E>> envelopes() {
        return envelopes;
    }

    /** The events, in the same order; an unmodifiable view. */
    public List<E> events() {
        return events;
    }

    /** How many events; at least 1, at most the subscription's batch size. */
    public int size() {
        return envelopes.size();
    }

    @Override
    public String toString() {
        return "Batch[" + envelopes.size() + " events, first " + envelopes.get(0).id() + "]";
    }
}
