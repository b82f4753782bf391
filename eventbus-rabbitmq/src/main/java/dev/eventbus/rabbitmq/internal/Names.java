package dev.eventbus.rabbitmq.internal;

import java.time.Duration;

/**
 * The naming scheme of everything this transport declares (documented in the module README). {@code P} is the
 * configured prefix:
 * <pre>
 *   P&lt;stream&gt;                          topic exchange of a stream; routing key = event type
 *   P&lt;stream&gt;.unrouted                 its alternate exchange (fanout) to every group: types no group is bound to
 *   P&lt;stream&gt;.&lt;group&gt;                  the group's work queue (not per-key ordered)
 *   P&lt;stream&gt;.&lt;group&gt;.dlq              the group's dead-letter queue
 *   P&lt;stream&gt;.&lt;group&gt;.retry.&lt;ms&gt;ms     wait queue: holds retries for ms, then dead-letters them back
 *   P&lt;stream&gt;.delay                    headers exchange in front of the stream's delay queues
 *   P&lt;stream&gt;.delay.&lt;ms&gt;ms             delay queue: holds delayed publishes for ms, then dead-letters them to the stream
 *   P&lt;stream&gt;.&lt;group&gt;.shards           topic exchange of a per-key ordered group: shard routes to shard queues
 *   P&lt;stream&gt;.&lt;group&gt;.unkeyed          its alternate exchange: messages without a shard route go to shard 0
 *   P&lt;stream&gt;.&lt;group&gt;.shard-&lt;i&gt;        its shard queues
 *   P&lt;stream&gt;.&lt;group&gt;.shard-&lt;i&gt;.lock   exclusive queue held by the instance that consumes shard i
 *   P&lt;stream&gt;.&lt;group&gt;.members          a queue without messages whose consumers are the group's live instances
 * </pre>
 * Thread-safe (immutable).
 */
public final class Names {
    private final String prefix;

    public Names(String prefix) {
        this.prefix = prefix == null ? "" : prefix;
    }

    public String exchange(String stream) {
        return prefix + stream;
    }

    public String unroutedExchange(String stream) {
        return prefix + stream + ".unrouted";
    }

    public String workQueue(String stream, String group) {
        return prefix + stream + "." + group;
    }

    public String deadLetterQueue(String stream, String group) {
        return workQueue(stream, group) + ".dlq";
    }

    public String retryQueue(String stream, String group, long ms) {
        return workQueue(stream, group) + ".retry." + ms + "ms";
    }

    public String delayExchange(String stream) {
        return prefix + stream + ".delay";
    }

    public String delayQueue(String stream, long ms) {
        return prefix + stream + ".delay." + ms + "ms";
    }

    public String shardExchange(String stream, String group) {
        return workQueue(stream, group) + ".shards";
    }

    public String unkeyedExchange(String stream, String group) {
        return workQueue(stream, group) + ".unkeyed";
    }

    public String shardQueue(String stream, String group, int shard) {
        return workQueue(stream, group) + ".shard-" + shard;
    }

    public String shardLock(String stream, String group, int shard) {
        return shardQueue(stream, group, shard) + ".lock";
    }

    public String membersQueue(String stream, String group) {
        return workQueue(stream, group) + ".members";
    }

    /**
     * The wait time for a requested delay: rounded up to two significant digits (230 ms, 1.3 s, 37 s, 130 s), so
     * a handful of wait queues serves any backoff schedule and no message waits less than asked.
     */
    public static long bucketMillis(Duration delay) {
        long ms = Math.max(1, delay.toMillis() + (delay.toNanosPart() % 1_000_000 == 0 ? 0 : 1));
        long scale = 1;
        while (ms > 99) {
            ms = (ms + 9) / 10;
            scale *= 10;
        }
        return ms * scale;
    }
}
