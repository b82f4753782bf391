package dev.eventbus.jdbc.internal;

import java.util.concurrent.ThreadLocalRandom;

/**
 * Maps a key to one of {@code n} partitions, the same way in every JVM and version ({@link String#hashCode} is
 * specified), so rows written by one instance are read by the owner of the right partition on another.
 */
public final class Partitioner {

    private Partitioner() {
    }

    /** The partition of {@code key}; a null key (no order asked) goes to a random partition. */
    public static int partition(String key, int partitions) {
        if (key == null) {
            return ThreadLocalRandom.current().nextInt(partitions);
        }
        int h = key.hashCode();
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        return Math.floorMod(h, partitions);
    }
}
