package dev.eventbus.kafka.internal;

import dev.eventbus.kafka.KafkaConfig;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * One Kafka consumer of a subscription's group on one topic (the stream's topic, or the group's retry topic),
 * with its own poll thread: polls, routes records to the subscription's worker lanes, commits what was decided
 * (with the offsets decided beyond the commit point in the commit's metadata, see {@link PartitionState}), and
 * handles the group's rebalances. Everything here runs on the poll thread except {@link #assignment}.
 */
final class PollLoop implements ConsumerRebalanceListener {

    private static final Logger log = LoggerFactory.getLogger(SubscriptionRunner.class);
    private static final Duration POLL_TIMEOUT = Duration.ofMillis(100);
    private static final Duration PAUSED_POLL_TIMEOUT = Duration.ofMillis(2);
    private static final Duration HOLD_PARK = Duration.ofNanos(200_000);
    private static final Duration HOLD_AT_MOST = Duration.ofMillis(50);
    /** Most records one worker takes from the shared queue at a time when per-key order is not asked for. */
    private static final int UNORDERED_CHUNK = 16;

    private final SubscriptionRunner runner;
    private final KafkaConfig config;
    private final String group;
    private final String topic;
    private final boolean ordered;
    private final int laneCount;
    private final WorkerSlot[] slots;
    private final BlockingQueue<List<Work>>[] queues;
    final String loopTopic;
    final boolean isRetry;
    /** This consumer's {@code client.id}: how a replay tells this instance's group members from others'. */
    final String clientId;
    /** Replays waiting for the poll thread ({@link #applySeeks}). */
    private final ConcurrentLinkedQueue<SeekRequest> seeks = new ConcurrentLinkedQueue<>();
    final Consumer<byte[], byte[]> consumer;
    final Thread thread;
    /** Poll thread only (the rebalance listener runs on it too). */
    final Map<TopicPartition, PartitionState> partitions = new HashMap<>();
    long lastCommitNanos = System.nanoTime();
    /** Set when the final commit may poll: from then on, fetched records are dropped, so never commit the position. */
    boolean shuttingDown;
    /** Partitions this loop has paused for backpressure. */
    int pausedCount;
    volatile Set<TopicPartition> assignment = Set.of();

    PollLoop(SubscriptionRunner runner, String loopTopic, boolean isRetry, String threadName) {
        this.runner = runner;
        this.config = runner.config;
        this.group = runner.group;
        this.topic = runner.topic;
        this.ordered = runner.ordered;
        this.laneCount = runner.laneCount;
        this.slots = runner.slots;
        this.queues = runner.queues;
        this.loopTopic = loopTopic;
        this.isRetry = isRetry;
        Map<String, Object> props = config.consumerProperties(group);
        this.clientId = ClientIds.consumer(config, props.get("client.id"), group, isRetry);
        props.put("client.id", clientId);
        if (isRetry) {
            // Nothing parked for retry may ever be skipped by a "latest" reset.
            props.put("auto.offset.reset", "earliest");
        }
        this.consumer = new KafkaConsumer<>(props);
        this.thread = new NamedThreads(threadName).newThread(this::pollLoop);
        this.backlogLimit = 2 * maxPollRecords(props);
        this.dispatched = new long[laneCount];
    }

    long lastPollNanos = System.nanoTime();
    /** Records this loop dispatched to each lane (main loop with per-key lanes; poll thread only). */
    final long[] dispatched;
    /** In-flight records at which the main loop stops polling until the workers catch up. */
    final int backlogLimit;

    /**
     * True while the lanes hold two polls' worth of records the main loop dispatched and the workers have not
     * finished: polling more then only makes records wait longer, so the poll thread waits instead, as a
     * plain consumer polls when it is ready for more. Records polled far ahead sat in the lanes long enough
     * to leave the CPU caches (tens of MB of parsed records), which made the workers' first touch of each
     * record slower; what is fetched but not polled stays compact in the client. Counted from the lanes
     * (dispatched minus finished), not from the undecided records, so a record waiting for an in-memory
     * retry or a slow head of a partition holds nothing back. Never longer than {@link #HOLD_AT_MOST}
     * without a poll (group membership, rebalances).
     */
    private boolean holdBack() {
        if (isRetry || !ordered || System.nanoTime() - lastPollNanos > HOLD_AT_MOST.toNanos()) {
            return false;
        }
        long inFlight = 0;
        for (int i = 0; i < laneCount; i++) {
            long lane = dispatched[i] - slots[i].finished;
            if (lane == 0) {
                return false; // an idle lane: feed it, even when another is stuck in a slow handler
            }
            inFlight += lane;
        }
        return inFlight >= backlogLimit;
    }

    private void pollLoop() {
        try {
            consumer.subscribe(List.of(loopTopic), this);
            while (!runner.closing) {
                if (!seeks.isEmpty()) {
                    applySeeks();
                }
                if (holdBack()) {
                    LockSupport.parkNanos(HOLD_PARK.toNanos());
                    advanceAll();
                    if (System.nanoTime() - lastCommitNanos >= config.commitInterval().toNanos()) {
                        commitAsync();
                    }
                    continue;
                }
                ConsumerRecords<byte[], byte[]> records;
                lastPollNanos = System.nanoTime();
                try {
                    // While a partition is paused its backlog drains in the workers: look again soon, or
                    // the whole timeout passes with nothing fetched.
                    records = consumer.poll(pausedCount > 0 ? PAUSED_POLL_TIMEOUT : POLL_TIMEOUT);
                } catch (WakeupException e) {
                    continue;
                } catch (InterruptException e) {
                    log.warn("poll thread of group '{}' on '{}' was interrupted; closing the subscription", group,
                            loopTopic);
                    runner.closing = true;
                    break;
                } catch (KafkaException e) {
                    if (runner.closing) {
                        break;
                    }
                    log.error("polling topic '{}' for group '{}' failed; trying again in 1 s", loopTopic, group, e);
                    SubscriptionRunner.sleepQuietly(1000);
                    continue;
                }
                if (!records.isEmpty()) {
                    dispatch(records);
                }
                advanceAll();
                pauseOrResume();
                if (System.nanoTime() - lastCommitNanos >= config.commitInterval().toNanos()) {
                    commitAsync();
                }
            }
        } catch (Throwable t) {
            log.error("poll thread of group '{}' on '{}' died; the subscription stops", group, loopTopic, t);
            runner.closing = true;
        } finally {
            shutdown();
        }
    }

    private void shutdown() {
        for (SeekRequest r; (r = seeks.poll()) != null; ) {
            r.applied().completeExceptionally(new IllegalStateException("the subscription of group '" + group
                    + "' on '" + loopTopic + "' closed before the replay reached it"));
        }
        try {
            if (runner.closeDeadlineNanos == 0) {
                runner.closeDeadlineNanos = System.nanoTime();
            }
            runner.closing = true;
            SubscriptionRunner.awaitRunning(() -> runner.busy(null) == 0, runner.closeDeadlineNanos);
            int busy = runner.busy(null);
            if (busy > 0 && !runner.abandoned) {
                runner.abandoned = true;
                log.warn("subscription of group '{}' on '{}' closed with {} handler(s) still running; their "
                        + "records stay uncommitted and will be delivered again", group, topic, busy);
            }
            finalCommit();
        } catch (Throwable t) {
            log.warn("closing the subscription of group '{}' on '{}' failed", group, loopTopic, t);
        } finally {
            try {
                consumer.close(CloseOptions.timeout(SubscriptionRunner.CLOSE_GRACE));
            } catch (RuntimeException e) {
                log.warn("closing the Kafka consumer of group '{}' failed", group, e);
            }
            synchronized (runner.assignmentMonitor) {
                assignment = Set.of();
                runner.assignmentMonitor.notifyAll();
            }
            runner.loopFinished();
        }
    }

    /**
     * Commits what was decided, once more before leaving. A rebalance started by another member (or by this
     * subscription's other consumer leaving at the same moment) makes a commit fail with
     * {@link RebalanceInProgressException}; then a poll on paused partitions completes the rebalance (the
     * listener commits what it revokes) and the commit is tried again, until {@link #SubscriptionRunner.CLOSE_GRACE} runs out.
     */
    private void finalCommit() {
        shuttingDown = true;
        long deadline = System.nanoTime() + SubscriptionRunner.CLOSE_GRACE.toNanos();
        while (true) {
            advanceAll();
            Map<TopicPartition, OffsetAndMetadata> offsets = committable(partitions.values());
            if (offsets.isEmpty()) {
                return;
            }
            try {
                consumer.commitSync(offsets, SubscriptionRunner.CLOSE_GRACE);
                offsets.forEach((tp, o) -> partitions.get(tp).committed(o));
                return;
            } catch (WakeupException e) {
                // close()'s wake-up arrived outside poll and fired here; it fires once, so go again
            } catch (RebalanceInProgressException e) {
                if (System.nanoTime() - deadline > 0) {
                    log.warn("final commit of group '{}' on '{}' kept meeting a rebalance; records after the "
                            + "last commit will be delivered again", group, loopTopic, e);
                    return;
                }
                try {
                    consumer.pause(consumer.assignment());
                    consumer.poll(Duration.ofMillis(50)); // records it returns are dropped, never committed
                } catch (WakeupException ignored) {
                    // try again
                }
            } catch (RuntimeException e) {
                log.warn("final commit of group '{}' on '{}' failed; records after the last commit will be "
                        + "delivered again", group, loopTopic, e);
                return;
            }
        }
    }

    /** A replay for the poll thread: target offsets, and what it moved (the partitions it held among them). */
    record SeekRequest(Map<TopicPartition, Long> targets, CompletableFuture<Map<TopicPartition, Long>> applied) {
    }

    /** Hands a replay to the poll thread; the future completes within a poll or two. Any thread. */
    CompletableFuture<Map<TopicPartition, Long>> requestSeek(Map<TopicPartition, Long> targets) {
        SeekRequest r = new SeekRequest(Map.copyOf(targets), new CompletableFuture<>());
        seeks.add(r);
        if (!thread.isAlive() && seeks.remove(r)) {
            r.applied().completeExceptionally(new IllegalStateException("the subscription of group '" + group
                    + "' on '" + loopTopic + "' is not running"));
        }
        return r.applied();
    }

    /**
     * Replays, on the poll thread: each partition this consumer holds among a request's targets starts over at its
     * target offset with a fresh {@link PartitionState}. The old state is marked revoked, so its queued records are
     * not started and nothing of it is committed any more; a handler already running finishes (its lane is one
     * thread, so per-key order holds), and its record is handled again when it lies after the target. The target
     * is committed at once with empty metadata, so the decided offsets of the old position skip nothing replayed.
     */
    private void applySeeks() {
        for (SeekRequest r; (r = seeks.poll()) != null; ) {
            Map<TopicPartition, OffsetAndMetadata> commit = new HashMap<>();
            try {
                for (Map.Entry<TopicPartition, Long> e : r.targets().entrySet()) {
                    TopicPartition tp = e.getKey();
                    PartitionState old = partitions.get(tp);
                    if (old == null) {
                        continue; // not ours (any more): the caller sees it missing from the result
                    }
                    old.revoked = true;
                    if (old.paused) {
                        consumer.resume(List.of(tp));
                        pausedCount--;
                    }
                    PartitionState fresh = new PartitionState(tp, isRetry);
                    fresh.nextOffset = e.getValue();
                    partitions.put(tp, fresh);
                    consumer.seek(tp, e.getValue());
                    commit.put(tp, new OffsetAndMetadata(e.getValue(), ""));
                }
                if (!commit.isEmpty()) {
                    try {
                        consumer.commitSync(commit, SubscriptionRunner.CLOSE_GRACE);
                        commit.forEach((tp, o) -> partitions.get(tp).committed(o));
                    } catch (RuntimeException e) {
                        // The new states commit their position with the next periodic or revocation commit.
                        log.warn("group '{}' replays {} from {}, but committing the new offsets failed; they are "
                                + "committed with the next commit", group, loopTopic, commit.keySet(), e);
                    }
                }
                Map<TopicPartition, Long> applied = new HashMap<>();
                commit.forEach((tp, o) -> applied.put(tp, o.offset()));
                r.applied().complete(applied);
            } catch (RuntimeException e) {
                r.applied().completeExceptionally(e);
            }
        }
    }

    private void dispatch(ConsumerRecords<byte[], byte[]> records) {
        @SuppressWarnings("unchecked")
        List<Work>[] batches = new List[queues.length];
        long now = System.currentTimeMillis();
        for (TopicPartition tp : records.partitions()) {
            PartitionState ps = partitions.get(tp);
            if (ps == null) {
                continue; // not ours any more
            }
            int partitionLane = ordered ? Math.floorMod(tp.hashCode(), laneCount) : 0;
            for (ConsumerRecord<byte[], byte[]> r : records.records(tp)) {
                Work w = new Work(r, ps);
                ps.append(w);
                ps.nextOffset = r.offset() + 1;
                if (ps.decidedEarlier(r.offset())) {
                    w.done = true; // the previous owner finished it (its commit's metadata says so)
                    continue;
                }
                // Headers are parsed on first access: the skip check runs in the workers, in parallel,
                // not here on the one poll thread.
                int lane = runner.laneOf(r, partitionLane);
                w.lane = lane;
                if (isRetry) {
                    w.attempt = RetryTopicRecords.attempt(r.headers());
                    long due = RetryTopicRecords.due(r.headers());
                    if (due > now) {
                        runner.schedule(w, due - now);
                        continue;
                    }
                }
                List<Work> b = batches[lane];
                if (b == null) {
                    b = isRetry || !ordered ? new ArrayList<>() : new WorkerSlot.LaneBatch();
                    batches[lane] = b;
                }
                b.add(w);
            }
        }
        if (!ordered) {
            List<Work> all = batches[0];
            if (all != null) {
                // One queue shared by every worker: hand it out in small pieces so idle workers share a poll.
                int chunk = Math.max(1, Math.min(UNORDERED_CHUNK, (all.size() + laneCount - 1) / laneCount));
                for (int from = 0; from < all.size(); from += chunk) {
                    queues[0].add(new ArrayList<>(all.subList(from, Math.min(all.size(), from + chunk))));
                }
            }
            return;
        }
        for (int i = 0; i < batches.length; i++) {
            if (batches[i] != null) {
                if (!isRetry) {
                    dispatched[i] += batches[i].size();
                }
                queues[i].add(batches[i]);
            }
        }
    }

    private void advanceAll() {
        for (PartitionState ps : partitions.values()) {
            ps.advance();
        }
    }

    private void pauseOrResume() {
        int max = config.maxPendingPerPartition();
        List<TopicPartition> pause = null;
        List<TopicPartition> resume = null;
        for (PartitionState ps : partitions.values()) {
            if (!ps.paused && ps.size > max) {
                ps.paused = true;
                (pause == null ? pause = new ArrayList<>() : pause).add(ps.tp);
            } else if (ps.paused && ps.size <= max / 2) {
                ps.paused = false;
                (resume == null ? resume = new ArrayList<>() : resume).add(ps.tp);
            }
        }
        if (pause != null) {
            consumer.pause(pause);
            pausedCount += pause.size();
        }
        if (resume != null) {
            consumer.resume(resume);
            pausedCount -= resume.size();
        }
    }

    /** What to commit for {@code states}: the first undecided offsets, and the offsets decided beyond them. */
    private Map<TopicPartition, OffsetAndMetadata> committable(Collection<PartitionState> states) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (PartitionState ps : states) {
            long position = -1;
            if (ps.head == null && !shuttingDown) {
                try {
                    // Past transaction markers too, so an idle group shows no lag.
                    position = consumer.position(ps.tp, Duration.ZERO);
                } catch (RuntimeException ignored) {
                    // position unknown right now: the last polled offset + 1 is right too
                }
            }
            OffsetAndMetadata o = ps.committable(position);
            if (o != null) {
                offsets.put(ps.tp, o);
            }
        }
        return offsets;
    }

    private void commitAsync() {
        lastCommitNanos = System.nanoTime();
        Map<TopicPartition, OffsetAndMetadata> offsets = committable(partitions.values());
        if (offsets.isEmpty()) {
            return;
        }
        offsets.forEach((tp, o) -> partitions.get(tp).committed(o));
        consumer.commitAsync(offsets, (done, e) -> {
            if (e != null) {
                log.debug("offset commit of group '{}' failed; trying again with the next one", group, e);
                for (Map.Entry<TopicPartition, OffsetAndMetadata> x : offsets.entrySet()) {
                    PartitionState ps = partitions.get(x.getKey());
                    if (ps != null) {
                        ps.commitFailed(x.getValue());
                    }
                }
            }
        });
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> revoked) {
        List<PartitionState> states = new ArrayList<>();
        for (TopicPartition tp : revoked) {
            PartitionState ps = partitions.get(tp);
            if (ps != null) {
                ps.revoked = true;
                states.add(ps);
            }
        }
        long deadline = System.nanoTime() + config.revokeTimeout().toNanos();
        if (runner.closing && runner.closeDeadlineNanos != 0) {
            deadline = Math.min(deadline, runner.closeDeadlineNanos);
        }
        SubscriptionRunner.awaitRunning(() -> runner.busy(states) == 0, deadline);
        for (PartitionState ps : states) {
            ps.advance();
        }
        Map<TopicPartition, OffsetAndMetadata> offsets = committable(states);
        if (!offsets.isEmpty()) {
            try {
                consumer.commitSync(offsets, SubscriptionRunner.CLOSE_GRACE);
            } catch (RuntimeException e) {
                log.warn("commit on revocation of {} for group '{}' failed; their records after the last "
                        + "commit will be delivered again", revoked, group, e);
            }
        }
        for (TopicPartition tp : revoked) {
            partitions.remove(tp);
        }
        publishAssignment();
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> lost) {
        for (TopicPartition tp : lost) {
            PartitionState ps = partitions.remove(tp);
            if (ps != null) {
                ps.revoked = true;
            }
        }
        if (runner.closing) {
            log.debug("group '{}' let go of partitions {} while closing", group, lost);
        } else {
            log.warn("group '{}' lost partitions {} (session expired?); their undecided records will be "
                    + "delivered again", group, lost);
        }
        publishAssignment();
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> assigned) {
        for (TopicPartition tp : assigned) {
            partitions.put(tp, new PartitionState(tp, isRetry));
        }
        fixStartingOffsets(assigned);
        publishAssignment();
    }

    /**
     * A partition the group has never committed for starts where {@code auto.offset.reset} says; that start
     * is committed at once, so a member that takes over later begins at the same place even when nothing
     * was committed since, and a {@code latest} reset can never skip a record that was delivered once.
     */
    private void fixStartingOffsets(Collection<TopicPartition> assigned) {
        if (assigned.isEmpty()) {
            return;
        }
        try {
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(new HashSet<>(assigned));
            Map<TopicPartition, OffsetAndMetadata> start = new HashMap<>();
            for (TopicPartition tp : assigned) {
                OffsetAndMetadata c = committed.get(tp);
                PartitionState ps = partitions.get(tp);
                if (c != null) {
                    int skipped = ps.startFrom(c);
                    if (skipped > 0) {
                        log.debug("group '{}' takes over {} at offset {}; {} later records were decided by the "
                                + "previous owner and are skipped", group, tp, c.offset(), skipped);
                    }
                    continue;
                }
                long position = consumer.position(tp);
                ps.nextOffset = position;
                start.put(tp, new OffsetAndMetadata(position));
            }
            if (!start.isEmpty()) {
                consumer.commitSync(start);
                start.forEach((tp, o) -> partitions.get(tp).committed(o));
            }
        } catch (WakeupException e) {
            throw e;
        } catch (RuntimeException e) {
            log.warn("could not fix the starting offsets of {} for group '{}'", assigned, group, e);
        }
    }

    private void publishAssignment() {
        int paused = 0;
        for (PartitionState ps : partitions.values()) {
            paused += ps.paused ? 1 : 0;
        }
        pausedCount = paused;
        synchronized (runner.assignmentMonitor) {
            assignment = Set.copyOf(partitions.keySet());
            runner.assignmentMonitor.notifyAll();
        }
    }

    private static int maxPollRecords(Map<String, Object> consumerProps) {
        Object v = consumerProps.get("max.poll.records");
        try {
            return v == null ? 500 : Math.max(1, Integer.parseInt(String.valueOf(v).trim()));
        } catch (NumberFormatException e) {
            return 500;
        }
    }
}
