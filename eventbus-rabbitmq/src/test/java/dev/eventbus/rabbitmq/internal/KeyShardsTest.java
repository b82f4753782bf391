package dev.eventbus.rabbitmq.internal;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/** The client-side shard routes and the topic patterns that bind them, checked with a topic matcher of our own. */
class KeyShardsTest {

    /** RabbitMQ's topic match for the patterns we use: literal words and {@code *} (one word). */
    private static boolean matches(String[] p, String[] k) {
        if (p.length != k.length) {
            return false;
        }
        for (int i = 0; i < p.length; i++) {
            if (!p[i].equals("*") && !p[i].equals(k[i])) {
                return false;
            }
        }
        return true;
    }

    @Test
    void everyBucketIsBoundToExactlyTheOneShardThatShardOfNamesForAnyShardCount() {
        for (int n : new int[]{1, 2, 3, 5, 6, 7, 8, 12, 16, 100, 333, 512, 1000, 1023, 1024}) {
            List<List<String[]>> patterns = new ArrayList<>();
            int bindings = 0;
            for (int shard = 0; shard < n; shard++) {
                patterns.add(KeyShards.bindingPatterns(shard, n).stream().map(p -> p.split("\\.")).toList());
                bindings += patterns.get(shard).size();
                assertThat(KeyShards.shardOf(KeyShards.firstBucket(shard, n), n)).as("first bucket of %d/%d", shard, n)
                        .isEqualTo(shard);
            }
            for (int b = 0; b < KeyShards.BUCKETS; b++) {
                List<Integer> hit = new ArrayList<>();
                String[] key = KeyShards.routingKey(b).split("\\.");
                for (int shard = 0; shard < n; shard++) {
                    for (String[] p : patterns.get(shard)) {
                        if (matches(p, key)) {
                            hit.add(shard);
                        }
                    }
                }
                assertThat(hit).as("shards matching bucket %d of %d", b, n).containsExactly(KeyShards.shardOf(b, n));
            }
            if (Integer.bitCount(n) == 1) {
                assertThat(bindings).as("one pattern per shard for %d shards", n).isEqualTo(n);
            } else {
                assertThat(bindings).as("few patterns for %d shards", n).isLessThanOrEqualTo(n * 2 * 10);
            }
        }
    }

    @Test
    void theRouteIsTheMarkerAndTheBucketsTenBitsMostSignificantFirst() {
        assertThat(KeyShards.routingKey(0)).isEqualTo("x-eventbus-shard.0.0.0.0.0.0.0.0.0.0");
        assertThat(KeyShards.routingKey(640)).isEqualTo("x-eventbus-shard.1.0.1.0.0.0.0.0.0.0");
        assertThat(KeyShards.bindingPatterns(5, 8)).containsExactly("x-eventbus-shard.1.0.1.*.*.*.*.*.*.*");
        assertThat(KeyShards.route(640)).containsExactly(KeyShards.routingKey(640));
    }

    @Test
    void theBucketIsStableAndSpreadsSimilarKeys() {
        // Documented for other clients: top 10 bits of MurmurHash3's fmix32 over zlib's CRC-32 of the UTF-8 key.
        assertThat(KeyShards.bucket("order-1")).isEqualTo(KeyShards.bucket("order-1"));
        Set<Integer> shards = new HashSet<>();
        int[] perShard = new int[8];
        for (int i = 0; i < 8000; i++) {
            int s = KeyShards.shardOf(KeyShards.bucket("order-" + i), 8);
            shards.add(s);
            perShard[s]++;
        }
        assertThat(shards).hasSize(8);
        for (int c : perShard) {
            assertThat(c).as("keys per shard of 8000 over 8").isBetween(800, 1200);
        }
    }
}
