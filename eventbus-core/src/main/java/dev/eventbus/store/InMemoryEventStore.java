package dev.eventbus.store;

import dev.eventbus.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.JsonSerializer;
import dev.eventbus.PublishOptions;
import dev.eventbus.Serializer;
import dev.eventbus.spi.TransportMessage;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * An {@link EventStore} in memory, for tests and prototypes: the same semantics as the JDBC store, nothing
 * survives the JVM. Events are encoded with the bus on append and decoded on every read, so unserializable events
 * and missing upcasters fail here as they would in production.
 *
 * <p>Appended events are <em>not</em> published on the bus (the JDBC store publishes them through its outbox); use
 * a {@link Projector} to react to them.
 *
 * <p>Thread-safe: appends are serialized by one lock, which also makes the global order trivially gap-free. Never
 * blocks on I/O. Nothing to close.
 */
public final class InMemoryEventStore implements EventStore {

    private record Stored(String streamId, long version, long position, TransportMessage message) {
    }

    private record StoredSnapshot(long version, String type, byte[] state) {
    }

    /** The stored data, guarded by itself; shared by {@link #readingWith} views. */
    private static final class Data {
        final List<Stored> all = new ArrayList<>();
        final Map<String, List<Stored>> streams = new HashMap<>();
        final Map<String, StoredSnapshot> snapshots = new HashMap<>();
    }

    private final EventBus bus;
    private final Serializer snapshotSerializer = new JsonSerializer();
    private final Data lock;
    private final List<Stored> all;
    private final Map<String, List<Stored>> streams;
    private final Map<String, StoredSnapshot> snapshots;

    /**
     * A store whose events are encoded and decoded by {@code bus} (its serializer, upcasters and registered types).
     * The bus is not closed by the store.
     */
    public InMemoryEventStore(EventBus bus) {
        this(bus, new Data());
    }

    private InMemoryEventStore(EventBus bus, Data data) {
        this.bus = Objects.requireNonNull(bus, "bus");
        this.lock = data;
        this.all = data.all;
        this.streams = data.streams;
        this.snapshots = data.snapshots;
    }

    /**
     * The same stored events, encoded and decoded by another bus: what a new release of the application (new event
     * classes, upcasters) sees of what an old one stored.
     */
    public InMemoryEventStore readingWith(EventBus other) {
        return new InMemoryEventStore(other, lock);
    }

    @Override
    public long append(String streamId, ExpectedVersion expected, List<?> events) {
        requireStream(streamId);
        Objects.requireNonNull(expected, "expected");
        requireEvents(events);
        PublishOptions key = PublishOptions.builder().key(streamId).build();
        List<TransportMessage> messages = new ArrayList<>(events.size());
        for (Object e : events) {
            messages.add(bus.messageFor(Objects.requireNonNull(e, "event"), key));
        }
        synchronized (lock) {
            List<Stored> stream = streams.get(streamId);
            long actual = stream == null ? 0 : stream.size();
            if (!expected.matches(actual)) {
                throw new ConcurrencyException(streamId, expected, actual);
            }
            if (stream == null) {
                stream = new ArrayList<>();
                streams.put(streamId, stream);
            }
            for (TransportMessage m : messages) {
                Stored s = new Stored(streamId, stream.size() + 1, all.size() + 1, m);
                stream.add(s);
                all.add(s);
            }
            return stream.size();
        }
    }

    @Override
    public List<RecordedEvent<?>> read(String streamId, long fromVersion) {
        requireStream(streamId);
        List<Stored> copy;
        synchronized (lock) {
            List<Stored> stream = streams.get(streamId);
            if (stream == null || fromVersion > stream.size()) {
                return List.of();
            }
            copy = new ArrayList<>(stream.subList((int) Math.max(0, fromVersion - 1), stream.size()));
        }
        return decode(copy);
    }

    @Override
    public List<RecordedEvent<?>> readAll(long fromPosition, int max) {
        if (max < 1) {
            throw new IllegalArgumentException("max must be 1 or more, was " + max);
        }
        List<Stored> copy;
        synchronized (lock) {
            int from = (int) Math.max(0, fromPosition - 1);
            if (from >= all.size()) {
                return List.of();
            }
            copy = new ArrayList<>(all.subList(from, (int) Math.min(all.size(), (long) from + max)));
        }
        return decode(copy);
    }

    @Override
    public long headPosition() {
        synchronized (lock) {
            return all.size();
        }
    }

    @Override
    public long streamVersion(String streamId) {
        synchronized (lock) {
            List<Stored> stream = streams.get(streamId);
            return stream == null ? 0 : stream.size();
        }
    }

    @Override
    public void saveSnapshot(Snapshot<?> snapshot) {
        Objects.requireNonNull(snapshot, "snapshot");
        byte[] state = snapshotSerializer.serialize(snapshot.state());
        StoredSnapshot s = new StoredSnapshot(snapshot.version(), snapshot.state().getClass().getName(), state);
        synchronized (lock) {
            snapshots.merge(snapshot.streamId(), s, (old, neu) -> neu.version >= old.version ? neu : old);
        }
    }

    @Override
    public <S> Optional<Snapshot<S>> loadSnapshot(String streamId, Class<S> stateType) {
        StoredSnapshot s;
        synchronized (lock) {
            s = snapshots.get(streamId);
        }
        if (s == null || !s.type.equals(stateType.getName())) {
            return Optional.empty();
        }
        try {
            return Optional.of(new Snapshot<>(streamId, s.version,
                    snapshotSerializer.deserialize(s.state, stateType, s.type, 1)));
        } catch (Serializer.SerializationException e) {
            return Optional.empty();
        }
    }

    private List<RecordedEvent<?>> decode(List<Stored> rows) {
        List<RecordedEvent<?>> out = new ArrayList<>(rows.size());
        for (Stored s : rows) {
            Envelope<?> env = bus.decode(s.message);
            out.add(new RecordedEvent<>(s.streamId, s.version, s.position, env));
        }
        return out;
    }

    static void requireStream(String streamId) {
        if (streamId == null || streamId.isBlank()) {
            throw new IllegalArgumentException("stream id must not be blank, was '" + streamId + "'");
        }
    }

    static void requireEvents(List<?> events) {
        if (events == null || events.isEmpty()) {
            throw new IllegalArgumentException("an append needs at least one event");
        }
    }

    @Override
    public String toString() {
        return "InMemoryEventStore{head=" + headPosition() + '}';
    }
}
