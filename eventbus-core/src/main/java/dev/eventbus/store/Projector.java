package dev.eventbus.store;

import dev.eventbus.EventBusException;
import dev.eventbus.internal.Poller;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Runs a {@link Projection} over an in-memory read model: tails {@link EventStore#readAll} by position and applies
 * each event exactly once, in order. The checkpoint lives in memory with the model, so a restarted application
 * rebuilds from position 1 (for a durable read model with a durable checkpoint use the JDBC module's
 * {@code JdbcProjector}).
 *
 * <p>{@link #catchUp()} processes until the head; {@link #start(Duration)} does so on a background thread every
 * interval. {@link #rebuild()} folds every event into a fresh model while the current one keeps serving, then
 * catches the fresh one up under the lock and swaps it in.
 *
 * <p>Thread-safe; {@link #readModel()} may be called from any thread while the projection runs (the model's
 * own type decides whether reading it concurrently is safe: use concurrent collections). Close it to stop the
 * background thread; closing does not close the store.
 *
 * @param <M> the read model type
 */
public final class Projector<M> implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(Projector.class);
    private static final int BATCH = 500;

    private final EventStore store;
    private final Projection<M> projection;
    private final Object lock = new Object();
    private volatile M model;
    private volatile long position;
    private volatile boolean rebuilding;
    private Poller poller;

    private Projector(EventStore store, Projection<M> projection) {
        this.store = Objects.requireNonNull(store, "store");
        this.projection = Objects.requireNonNull(projection, "projection");
        this.model = Objects.requireNonNull(projection.newReadModel(), "newReadModel returned null");
    }

    /** A projector at position 0 with a fresh model; nothing runs until {@link #catchUp} or {@link #start}. */
    public static <M> Projector<M> of(EventStore store, Projection<M> projection) {
        return new Projector<>(store, projection);
    }

    /**
     * Applies every event after the current position up to the store's head.
     *
     * @return how many events were applied
     * @throws EventBusException when the store fails; a throw from the projection propagates, and the position
     *                           stays on the event before it
     */
    public long catchUp() {
        synchronized (lock) {
            long[] pos = {position};
            long n = fold(model, pos);
            position = pos[0];
            return n;
        }
    }

    private long fold(M target, long[] pos) {
        long n = 0;
        while (true) {
            List<RecordedEvent<?>> batch = store.readAll(pos[0] + 1, BATCH);
            for (RecordedEvent<?> e : batch) {
                if (e.position() != pos[0] + 1) {
                    throw new IllegalStateException("projection '" + projection.name() + "' expected position "
                            + (pos[0] + 1) + " but the store returned " + e.position());
                }
                projection.apply(target, e);
                pos[0] = e.position();
                n++;
            }
            if (batch.size() < BATCH) {
                return n;
            }
        }
    }

    /**
     * Replays every event from position 1 into a fresh model, then swaps it in once caught up. The current model
     * keeps serving (and, when started, following the store) until the swap.
     *
     * @return the new model
     */
    public M rebuild() {
        rebuilding = true;
        try {
            M fresh = Objects.requireNonNull(projection.newReadModel(), "newReadModel returned null");
            long[] pos = {0};
            fold(fresh, pos); // the bulk, without the lock
            synchronized (lock) {
                fold(fresh, pos); // the tail that arrived meanwhile
                model = fresh;
                position = pos[0];
            }
            return fresh;
        } finally {
            rebuilding = false;
        }
    }

    /** The current read model. */
    public M readModel() {
        return model;
    }

    /** The position handled and the store's head. */
    public ProjectionStatus status() {
        return new ProjectionStatus(projection.name(), position, store.headPosition(), rebuilding);
    }

    /**
     * Catches up every {@code interval} on a daemon thread until {@link #close()}. A failure is logged and tried
     * again at the next interval.
     *
     * @throws IllegalStateException when already started
     */
    public synchronized Projector<M> start(Duration interval) {
        if (poller != null) {
            throw new IllegalStateException("projector '" + projection.name() + "' is already started");
        }
        poller = new Poller("projector-" + projection.name(), interval, log, this::catchUp);
        return this;
    }

    /** Stops the background thread (waiting up to 10 s for a running batch); idempotent. */
    @Override
    public synchronized void close() {
        if (poller != null) {
            poller.close();
            poller = null;
        }
    }

    @Override
    public String toString() {
        return "Projector{" + projection.name() + " at " + position + '}';
    }
}
