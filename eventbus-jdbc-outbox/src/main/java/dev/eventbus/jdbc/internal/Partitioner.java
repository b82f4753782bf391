package dev.eventbus.jdbc.internal;

import java.util.concurrent.ThreadLocalRandom;

/**
 * Maps a key to a stable non-negative hash and to one of {@code n} partitions, the same way in every JVM and
 * version ({@link String#hashCode} is specified), so rows written by one instance are read by the owner of the
 * right partition on another. {@code partition(key, n) == hash(key) % n}, which is also what the relay's SQL
 * computes ({@code MOD(key_hash, n)}).
 */
public final class Partitioner {

    private Partitioner() {
    }

    /** A non-negative hash of {@code key}; a null key (no order asked) gets a random one. */
    public static int hash(String key) {
        if (key == null) {
            return ThreadLocalRandom.current().nextInt(Integer.MAX_VALUE);
        }
        int h = key.hashCode();
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        return h & 0x7fffffff;
    }

    /** The partition of {@code key} among {@code partitions}; a null key goes to a random partition. */
    public static int partition(String key, int partitions) {
        return hash(key) % partitions;
    }
}
