package dev.eventbus.rabbitmq.internal;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

/**
 * Client-side sharding by key, with nothing but plain topic bindings on the broker (no plugin).
 *
 * <p>The publisher maps a message's key to one of {@value #BUCKETS} buckets: the top 10 bits of
 * {@code fmix32(crc32(utf8(key)))} (CRC-32 as in zlib, then MurmurHash3's 32-bit finalizer so that keys differing in
 * one character spread). It adds the bucket as one extra routing key, {@code x-eventbus-shard.<b9>.<b8>...<b0>}
 * (the bucket's ten bits as words, most significant first), in the {@code BCC} header (the {@code CC} header for
 * delayed publishes, because it must survive the delay queue's dead-lettering). The main routing key stays the event
 * type, so groups without key order and plain clients see nothing new.
 *
 * <p>A per-key ordered group with {@code n} shards owns buckets by range: shard {@code i} gets the buckets
 * {@code b} with {@code b * n / 1024 == i}. Its shard queues are bound to the group's shard exchange with one topic
 * pattern per aligned block of buckets in that range ({@code x-eventbus-shard.1.0.1.*.*.*.*.*.*.*} for shard 5 of 8),
 * so groups with different shard counts read the same messages, each spread its own way, and the broker still
 * filters by type on the binding from the stream exchange to the shard exchange.
 *
 * <p>Thread-safe (stateless; the routing keys are computed once).
 */
public final class KeyShards {

    /** Buckets a key hashes to; the largest shard count. */
    public static final int BUCKETS = 1024;
    static final int BITS = 10;
    /** First word of every shard routing key; no event type is expected to look like it. */
    public static final String MARKER = "x-eventbus-shard";

    private static final String[] ROUTING_KEYS = new String[BUCKETS];
    private static final List<List<String>> ROUTES = new ArrayList<>(BUCKETS);

    static {
        for (int b = 0; b < BUCKETS; b++) {
            StringBuilder sb = new StringBuilder(MARKER);
            for (int bit = BITS - 1; bit >= 0; bit--) {
                sb.append('.').append((b >>> bit) & 1);
            }
            ROUTING_KEYS[b] = sb.toString();
            ROUTES.add(List.of(ROUTING_KEYS[b]));
        }
    }

    private KeyShards() {
    }

    /** The bucket of {@code key} (0 to 1023). */
    public static int bucket(String key) {
        CRC32 crc = new CRC32();
        crc.update(key.getBytes(StandardCharsets.UTF_8));
        int h = (int) crc.getValue();
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        h *= 0xc2b2ae35;
        h ^= h >>> 16;
        return h >>> (32 - BITS);
    }

    /** The extra routing key of a bucket: {@code x-eventbus-shard.} and its ten bits. */
    public static String routingKey(int bucket) {
        return ROUTING_KEYS[bucket];
    }

    /** The extra routing key as the one-element list a {@code BCC} or {@code CC} header holds (shared, immutable). */
    public static List<String> route(int bucket) {
        return ROUTES.get(bucket);
    }

    /** The shard of {@code bucket} in a group of {@code shards}. */
    public static int shardOf(int bucket, int shards) {
        return bucket * shards / BUCKETS;
    }

    /** The lowest bucket of shard {@code shard}: a routing key that reaches it. */
    public static int firstBucket(int shard, int shards) {
        return (shard * BUCKETS + shards - 1) / shards;
    }

    /**
     * The binding patterns of shard {@code shard} of {@code shards}: its bucket range cut into aligned power-of-two
     * blocks, each one pattern (one for every shard when the count is a power of two, a few otherwise).
     */
    public static List<String> bindingPatterns(int shard, int shards) {
        int lo = firstBucket(shard, shards);
        int hi = firstBucket(shard + 1, shards); // exclusive
        List<String> patterns = new ArrayList<>();
        while (lo < hi) {
            int size = lo == 0 ? BUCKETS : Integer.lowestOneBit(lo);
            while (lo + size > hi) {
                size >>>= 1;
            }
            int fixedBits = BITS - Integer.numberOfTrailingZeros(size);
            StringBuilder sb = new StringBuilder(MARKER);
            for (int bit = BITS - 1; bit >= 0; bit--) {
                sb.append('.');
                if (BITS - 1 - bit < fixedBits) {
                    sb.append((lo >>> bit) & 1);
                } else {
                    sb.append('*');
                }
            }
            patterns.add(sb.toString());
            lo += size;
        }
        return patterns;
    }
}
