package dev.eventbus;

import java.time.Instant;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Where {@link EventBus#replay(String, ReplayFrom)} moves a consumer group: to the beginning of what the transport
 * retains, to the first event at or after a time, or to transport positions. The group then handles every event from
 * there on again (and, moved forward, skips the ones before it).
 *
 * <p>A <em>position</em> is the position of the first event to handle: on Kafka a partition's offset, on the JDBC
 * transport the stream's sequence number ({@code seq} column, shared by the stream's partitions). Positions before
 * the first retained event mean the first retained one, and positions past the end mean the end.
 *
 * <p>Immutable and thread-safe.
 */
public final class ReplayFrom {

    /** What a {@link ReplayFrom} names. */
    public enum Kind {
        /** The first event the transport still retains, on every partition. */
        BEGINNING,
        /** The first event appended at or after {@link #time()}; the end of the stream when there is none. */
        TIME,
        /** {@link #position()} on every partition. */
        POSITION,
        /** {@link #positions()} for the partitions it names; the others stay where they are. */
        PARTITION_POSITIONS
    }

    private static final ReplayFrom BEGINNING = new ReplayFrom(Kind.BEGINNING, null, -1, Map.of());

    private final Kind kind;
    private final Instant time;
    private final long position;
    private final Map<Integer, Long> positions;

    private ReplayFrom(Kind kind, Instant time, long position, Map<Integer, Long> positions) {
        this.kind = kind;
        this.time = time;
        this.position = position;
        this.positions = positions;
    }

    /** Everything the transport still retains. */
    public static ReplayFrom beginning() {
        return BEGINNING;
    }

    /**
     * The first event the transport appended at or after {@code time} (Kafka: the record timestamp, by
     * {@code offsetsForTimes}; JDBC: the row's {@code created_at}); the end of the stream when there is none.
     */
    public static ReplayFrom time(Instant time) {
        return new ReplayFrom(Kind.TIME, Objects.requireNonNull(time, "time"), -1, Map.of());
    }

    /**
     * The same position on every partition: the first event to handle (Kafka offset, JDBC sequence number).
     *
     * @throws IllegalArgumentException if {@code position} is negative
     */
    public static ReplayFrom position(long position) {
        if (position < 0) {
            throw new IllegalArgumentException("position must be >= 0, was " + position);
        }
        return new ReplayFrom(Kind.POSITION, null, position, Map.of());
    }

    /**
     * A position per partition (partition number to the first event to handle there); partitions not named stay
     * where they are.
     *
     * @throws IllegalArgumentException if the map is empty or holds a negative partition or position
     */
    public static ReplayFrom positions(Map<Integer, Long> positions) {
        Objects.requireNonNull(positions, "positions");
        if (positions.isEmpty()) {
            throw new IllegalArgumentException("positions must name at least one partition");
        }
        for (Map.Entry<Integer, Long> e : positions.entrySet()) {
            if (e.getKey() == null || e.getKey() < 0 || e.getValue() == null || e.getValue() < 0) {
                throw new IllegalArgumentException("partitions and positions must be >= 0, was " + e);
            }
        }
        return new ReplayFrom(Kind.PARTITION_POSITIONS, null, -1,
                java.util.Collections.unmodifiableMap(new TreeMap<>(positions)));
    }

    public Kind kind() {
        return kind;
    }

    /** The time, for {@link Kind#TIME}; otherwise null. */
    public Instant time() {
        return time;
    }

    /** The position, for {@link Kind#POSITION}; otherwise -1. */
    public long position() {
        return position;
    }

    /** Partition to position, for {@link Kind#PARTITION_POSITIONS}; otherwise empty. Sorted by partition. */
    public Map<Integer, Long> positions() {
        return positions;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ReplayFrom r && kind == r.kind && Objects.equals(time, r.time) && position == r.position
                && positions.equals(r.positions);
    }

    @Override
    public int hashCode() {
        return Objects.hash(kind, time, position, positions);
    }

    /** {@code beginning}, {@code time 2026-01-01T00:00:00Z}, {@code position 42}, {@code positions {0=7, 2=9}}. */
    @Override
    public String toString() {
        return switch (kind) {
            case BEGINNING -> "beginning";
            case TIME -> "time " + time;
            case POSITION -> "position " + position;
            case PARTITION_POSITIONS -> "positions " + positions;
        };
    }
}
