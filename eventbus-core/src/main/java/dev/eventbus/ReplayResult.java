package dev.eventbus;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What {@link EventBus#replay(String, ReplayFrom)} (or {@link dev.eventbus.spi.Transport#replay}) moved where: one
 * {@link Move} per partition of each stream the group reads.
 *
 * <p>Immutable and thread-safe.
 *
 * @param group the consumer group
 * @param from  where it was asked to go
 * @param moves one per partition moved, by transport, stream and partition
 */
public record ReplayResult(String group, ReplayFrom from, List<Move> moves) {

    public ReplayResult {
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(from, "from");
        moves = List.copyOf(moves);
    }

    /**
     * One partition moved.
     *
     * @param transport        the transport's name ({@code kafka}, {@code jdbc})
     * @param stream           the stream
     * @param partition        the partition
     * @param previousPosition the position the group would have read next (its committed position), or -1 when it
     *                         had none
     * @param newPosition      the position it reads next now
     */
    public record Move(String transport, String stream, int partition, long previousPosition, long newPosition) {
    }

    /** This result followed by {@code other}'s moves (same group and origin). */
    ReplayResult plus(ReplayResult other) {
        List<Move> all = new ArrayList<>(moves);
        all.addAll(other.moves());
        return new ReplayResult(group, from, all);
    }
}
