package dev.eventbus.kafka.internal;

import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.kafka.KafkaSubscription;
import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InterruptException;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * One subscription: a Kafka consumer in the group, its poll thread and its worker lanes.
 *
 * <p>How it keeps its promises:
 * <ul>
 *   <li>The poll thread only polls, routes records to lanes and commits; handlers run on {@code concurrency}
 *       worker threads, so a slow handler never makes the consumer miss {@code max.poll.interval.ms}.</li>
 *   <li>Order: with {@code orderedByKey}, a record goes to the lane of its key (null key: of its partition) and
 *       each lane is one thread, so records of one key are handled one after the other, in offset order.</li>
 *   <li>Commits: every polled record joins its partition's list in offset order; a record leaves the head of the
 *       list once its outcome is decided (ACK, parked in the retry topic, written to the dead-letter topic,
 *       skipped). The committed offset is the first undecided record's, never beyond it.</li>
 *   <li>Backpressure: a partition with more than {@code max-pending-per-partition} undecided records is paused.</li>
 *   <li>Rebalance and close: queued records of a revoked partition are not started; running ones get up to
 *       {@code revoke-timeout} (or the close timeout) to finish; then the decided offsets are committed.</li>
 * </ul>
 */
public final class SubscriptionRunner implements KafkaSubscription {

    private static final Logger log = LoggerFactory.getLogger(SubscriptionRunner.class);
    private static final Duration POLL_TIMEOUT = Duration.ofMillis(100);
    private static final Duration PAUSED_POLL_TIMEOUT = Duration.ofMillis(2);
    private static final Duration HOLD_PARK = Duration.ofNanos(200_000);
    private static final Duration HOLD_AT_MOST = Duration.ofMillis(50);
    /** Most records one worker takes from the shared queue at a time when per-key order is not asked for. */
    private static final int UNORDERED_CHUNK = 16;
    private static final List<Work> POISON = new ArrayList<>(0);
    /** Time given to the final commit and to leaving the group, on top of the close timeout for handlers. */
    private static final Duration CLOSE_GRACE = Duration.ofSeconds(5);
    private static final int STACK_LINES = 12;
    private static final int MAX_HEADER_TEXT = 1000;

    /** Internal headers of records in a retry topic. */
    static final String H_ATTEMPT = CloudEventsBinding.INTERNAL_PREFIX + "attempt";
    static final String H_DUE = CloudEventsBinding.INTERNAL_PREFIX + "due";
    static final String H_ORIGINAL_TOPIC = CloudEventsBinding.INTERNAL_PREFIX + "original-topic";
    static final String H_ORIGINAL_PARTITION = CloudEventsBinding.INTERNAL_PREFIX + "original-partition";
    static final String H_ORIGINAL_OFFSET = CloudEventsBinding.INTERNAL_PREFIX + "original-offset";
    /** On a replayed dead letter: only this group handles it; the others skip it. */
    public static final String H_REPLAY_GROUP = CloudEventsBinding.INTERNAL_PREFIX + "replay-group";

    /** Visible dead-letter headers (besides {@link MessageHeaders}' {@code DLQ_*}). */
    public static final String DLQ_ORIGINAL_TOPIC = "eventbus-dlq-original-topic";
    public static final String DLQ_ORIGINAL_PARTITION = "eventbus-dlq-original-partition";
    public static final String DLQ_ORIGINAL_OFFSET = "eventbus-dlq-original-offset";

    private final KafkaConfig config;
    private final SubscriptionRequest request;
    private final MessageHandler handler;
    private final String group;
    private final String stream;
    private final String topic;
    private final String retryTopic;
    private final String deadLetterTopic;
    private final Producer<byte[], byte[]> producer;
    private final ScheduledExecutorService scheduler;
    private final java.util.function.Consumer<SubscriptionRunner> onClosed;

    private final boolean ordered;
    private final int laneCount;
    private final BlockingQueue<List<Work>>[] queues;
    private final Thread[] workers;
    /** The stream's topic; and the group's retry topic, read by a consumer of its own in the same group. */
    private final Loop main;
    private final Loop retry;
    private final AtomicInteger liveLoops;
    private final byte[] groupBytes;
    /** Replays for other groups and unwanted types, skipped in the same pass that reads the headers. */
    private volatile CloudEventsBinding.Filter filter;

    private final Object assignmentMonitor = new Object();
    /** What each worker is handling right now: read by close and revocation, written only by its worker. */
    private final Slot[] slots;
    /** Outcomes that settle in a producer callback (retry and dead-letter sends): the rare path. */
    private final AtomicInteger sending = new AtomicInteger();
    private final AtomicBoolean closeStarted = new AtomicBoolean();
    private volatile boolean closing;
    private volatile boolean abandoned;
    private volatile long closeDeadlineNanos;
    private final CountDownLatch terminated = new CountDownLatch(1);

    @SuppressWarnings("unchecked")
    public SubscriptionRunner(KafkaConfig config, SubscriptionRequest request, MessageHandler handler,
                              Producer<byte[], byte[]> producer, ScheduledExecutorService scheduler,
                              java.util.function.Consumer<SubscriptionRunner> onClosed) {
        this.config = config;
        this.request = request;
        this.handler = handler;
        this.group = request.group();
        this.stream = request.stream();
        this.topic = config.topic(stream);
        this.retryTopic = config.retryTopics() ? config.retryTopic(topic, group) : null;
        this.deadLetterTopic = config.deadLetterTopic(topic);
        this.producer = producer;
        this.scheduler = scheduler;
        this.onClosed = onClosed;
        this.groupBytes = CloudEventsBinding.utf8(group);
        setTypes(request.types());

        this.ordered = request.orderedByKey();
        this.laneCount = request.concurrency();
        int queueCount = ordered ? laneCount : 1;
        this.queues = new BlockingQueue[queueCount];
        for (int i = 0; i < queueCount; i++) {
            queues[i] = new LinkedBlockingQueue<>();
        }
        String name = "eventbus-kafka-" + group + "-" + stream;
        NamedThreads workerThreads = new NamedThreads(name + "-worker");
        this.workers = new Thread[laneCount];
        this.slots = new Slot[laneCount];
        for (int i = 0; i < laneCount; i++) {
            BlockingQueue<List<Work>> q = queues[ordered ? i : 0];
            Slot slot = new Slot();
            slots[i] = slot;
            workers[i] = workerThreads.newThread(() -> workLoop(q, slot));
        }
        this.main = new Loop(topic, false, name + "-poll");
        Loop r = null;
        try {
            r = retryTopic == null ? null : new Loop(retryTopic, true, name + "-retry-poll");
        } catch (RuntimeException e) {
            main.consumer.close(CloseOptions.timeout(Duration.ZERO));
            throw e;
        }
        this.retry = r;
        this.liveLoops = new AtomicInteger(retry == null ? 1 : 2);
    }

    /** Starts the poll threads and the workers. */
    public void start() {
        for (Thread w : workers) {
            w.start();
        }
        main.thread.start();
        if (retry != null) {
            retry.thread.start();
        }
    }

    @Override
    public String group() {
        return group;
    }

    @Override
    public String topic() {
        return topic;
    }

    /** The retry topic, or null when retries wait in memory. */
    public String retryTopic() {
        return retryTopic;
    }

    @Override
    public Set<TopicPartition> assignment() {
        if (retry == null) {
            return main.assignment;
        }
        Set<TopicPartition> all = new HashSet<>(main.assignment);
        all.addAll(retry.assignment);
        return Set.copyOf(all);
    }

    @Override
    public boolean awaitAssignment(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (assignmentMonitor) {
            while (main.assignment.isEmpty()) {
                long left = deadline - System.nanoTime();
                if (left <= 0 || terminated.getCount() == 0) {
                    return false;
                }
                try {
                    assignmentMonitor.wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
            return true;
        }
    }

    @Override
    public void updateTypes(Set<String> types) {
        setTypes(types);
    }

    private void setTypes(Set<String> types) {
        if (types == null || types.isEmpty()) {
            filter = new CloudEventsBinding.Filter(H_REPLAY_GROUP, groupBytes, null, null);
            return;
        }
        byte[][] t = new byte[types.size()][];
        int i = 0;
        for (String s : types) {
            t[i++] = CloudEventsBinding.utf8(s);
        }
        filter = new CloudEventsBinding.Filter(H_REPLAY_GROUP, groupBytes, t, Set.copyOf(types));
    }

    private int laneOf(ConsumerRecord<byte[], byte[]> r, int partitionLane) {
        if (!ordered) {
            return 0;
        }
        byte[] key = r.key();
        return key == null ? partitionLane : Math.floorMod(Arrays.hashCode(key) * 0x9E3779B9, laneCount);
    }

    private static int maxPollRecords(Map<String, Object> consumerProps) {
        Object v = consumerProps.get("max.poll.records");
        try {
            return v == null ? 500 : Math.max(1, Integer.parseInt(String.valueOf(v).trim()));
        } catch (NumberFormatException e) {
            return 500;
        }
    }

    /** Called by each loop's thread when it has finished; the last one stops the workers. */
    private void loopFinished() {
        if (liveLoops.decrementAndGet() > 0) {
            return;
        }
        for (int i = 0; i < workers.length; i++) {
            queues[ordered ? i : 0].add(POISON);
        }
        synchronized (assignmentMonitor) {
            assignmentMonitor.notifyAll();
        }
        terminated.countDown();
        onClosed.accept(this);
    }

    // ------------------------------------------------------------------------------------------------ poll loops

    /** One Kafka consumer of the group on one topic, with its own poll thread, partitions and commits. */
    private final class Loop implements ConsumerRebalanceListener {
        final String loopTopic;
        final boolean isRetry;
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

        Loop(String loopTopic, boolean isRetry, String threadName) {
            this.loopTopic = loopTopic;
            this.isRetry = isRetry;
            Map<String, Object> props = config.consumerProperties(group);
            Object clientId = props.get("client.id");
            String base = clientId == null ? config.serviceName() + "-" + group : String.valueOf(clientId);
            props.put("client.id", base + "-" + loopTopic + "-" + Integer.toHexString(System.identityHashCode(this)));
            if (isRetry) {
                // Nothing parked for retry may ever be skipped by a "latest" reset.
                props.put("auto.offset.reset", "earliest");
            }
            this.consumer = new KafkaConsumer<>(props);
            this.thread = new NamedThreads(threadName).newThread(this::pollLoop);
            this.backlogLimit = 2 * maxPollRecords(props);
        }

        long lastPollNanos = System.nanoTime();
        /** Records this loop dispatched to each lane (main loop with per-key lanes; poll thread only). */
        final long[] dispatched = new long[laneCount];
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
                while (!closing) {
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
                        closing = true;
                        break;
                    } catch (KafkaException e) {
                        if (closing) {
                            break;
                        }
                        log.error("polling topic '{}' for group '{}' failed; trying again in 1 s", loopTopic, group, e);
                        sleepQuietly(1000);
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
                closing = true;
            } finally {
                shutdown();
            }
        }

        private void shutdown() {
            try {
                if (closeDeadlineNanos == 0) {
                    closeDeadlineNanos = System.nanoTime();
                }
                closing = true;
                awaitRunning(() -> busy(null) == 0, closeDeadlineNanos);
                int busy = busy(null);
                if (busy > 0 && !abandoned) {
                    abandoned = true;
                    log.warn("subscription of group '{}' on '{}' closed with {} handler(s) still running; their "
                            + "records stay uncommitted and will be delivered again", group, topic, busy);
                }
                finalCommit();
            } catch (Throwable t) {
                log.warn("closing the subscription of group '{}' on '{}' failed", group, loopTopic, t);
            } finally {
                try {
                    consumer.close(CloseOptions.timeout(CLOSE_GRACE));
                } catch (RuntimeException e) {
                    log.warn("closing the Kafka consumer of group '{}' failed", group, e);
                }
                synchronized (assignmentMonitor) {
                    assignment = Set.of();
                    assignmentMonitor.notifyAll();
                }
                loopFinished();
            }
        }

        /**
         * Commits what was decided, once more before leaving. A rebalance started by another member (or by this
         * subscription's other consumer leaving at the same moment) makes a commit fail with
         * {@link RebalanceInProgressException}; then a poll on paused partitions completes the rebalance (the
         * listener commits what it revokes) and the commit is tried again, until {@link #CLOSE_GRACE} runs out.
         */
        private void finalCommit() {
            shuttingDown = true;
            long deadline = System.nanoTime() + CLOSE_GRACE.toNanos();
            while (true) {
                advanceAll();
                Map<TopicPartition, OffsetAndMetadata> offsets = committable(partitions.values());
                if (offsets.isEmpty()) {
                    return;
                }
                try {
                    consumer.commitSync(offsets, CLOSE_GRACE);
                    offsets.forEach((tp, o) -> partitions.get(tp).committed = o.offset());
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
                    // Headers are parsed on first access: the skip check runs in the workers, in parallel,
                    // not here on the one poll thread.
                    int lane = laneOf(r, partitionLane);
                    w.lane = lane;
                    if (isRetry) {
                        w.attempt = intHeader(r.headers(), H_ATTEMPT, 2);
                        long due = longHeader(r.headers(), H_DUE, 0);
                        if (due > now) {
                            schedule(w, due - now);
                            continue;
                        }
                    }
                    List<Work> b = batches[lane];
                    if (b == null) {
                        b = isRetry || !ordered ? new ArrayList<>() : new LaneBatch();
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

        private Map<TopicPartition, OffsetAndMetadata> committable(Collection<PartitionState> states) {
            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
            for (PartitionState ps : states) {
                long offset;
                if (ps.head != null) {
                    offset = ps.head.record.offset();
                } else {
                    offset = ps.nextOffset;
                    if (!shuttingDown) {
                        try {
                            // Past transaction markers too, so an idle group shows no lag.
                            offset = Math.max(offset, consumer.position(ps.tp, Duration.ZERO));
                        } catch (RuntimeException ignored) {
                            // position unknown right now: the last polled offset + 1 is right too
                        }
                    }
                }
                if (offset >= 0 && offset > ps.committed) {
                    offsets.put(ps.tp, new OffsetAndMetadata(offset));
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
            offsets.forEach((tp, o) -> partitions.get(tp).committed = o.offset());
            consumer.commitAsync(offsets, (done, e) -> {
                if (e != null) {
                    log.debug("offset commit of group '{}' failed; trying again with the next one", group, e);
                    for (Map.Entry<TopicPartition, OffsetAndMetadata> x : offsets.entrySet()) {
                        PartitionState ps = partitions.get(x.getKey());
                        if (ps != null && ps.committed == x.getValue().offset()) {
                            ps.committed = -1;
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
            if (closing && closeDeadlineNanos != 0) {
                deadline = Math.min(deadline, closeDeadlineNanos);
            }
            awaitRunning(() -> busy(states) == 0, deadline);
            for (PartitionState ps : states) {
                ps.advance();
            }
            Map<TopicPartition, OffsetAndMetadata> offsets = committable(states);
            if (!offsets.isEmpty()) {
                try {
                    consumer.commitSync(offsets, CLOSE_GRACE);
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
            if (closing) {
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
                        ps.committed = c.offset();
                        ps.nextOffset = c.offset();
                        continue;
                    }
                    long position = consumer.position(tp);
                    ps.nextOffset = position;
                    start.put(tp, new OffsetAndMetadata(position));
                }
                if (!start.isEmpty()) {
                    consumer.commitSync(start);
                    start.forEach((tp, o) -> partitions.get(tp).committed = o.offset());
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
            synchronized (assignmentMonitor) {
                assignment = Set.copyOf(partitions.keySet());
                assignmentMonitor.notifyAll();
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ workers

    /**
     * Records being handled or settling, of {@code states} only or (null) of all partitions. The slots are read
     * before the send counters: a worker counts a send before it clears its slot, so a send is never missed.
     * The caller sets {@code closing} or {@code revoked} first; a worker sets its slot before reading them; so
     * either the caller sees the record here or the worker sees the flag and leaves the record undecided.
     */
    private int busy(List<PartitionState> states) {
        int n = 0;
        for (Slot slot : slots) {
            Work w = slot.current;
            if (w != null && (states == null || states.contains(w.partition))) {
                n++;
            }
        }
        if (states == null) {
            return n + sending.get();
        }
        for (PartitionState ps : states) {
            n += ps.sending.get();
        }
        return n;
    }

    private void workLoop(BlockingQueue<List<Work>> queue, Slot slot) {
        long finished = 0;
        while (true) {
            List<Work> batch;
            try {
                batch = queue.take();
            } catch (InterruptedException e) {
                return;
            }
            if (batch == POISON) {
                return;
            }
            for (int i = 0, n = batch.size(); i < n; i++) {
                process(batch.get(i), slot);
            }
            if (batch instanceof LaneBatch) {
                finished += batch.size();
                slot.finished = finished; // once per batch: what the main loop's hold-back reads
            }
        }
    }

    private void submit(Work w) {
        List<Work> one = new ArrayList<>(1);
        one.add(w);
        queues[ordered ? w.lane : 0].add(one);
    }

    private void schedule(Work w, long delayMs) {
        try {
            scheduler.schedule(() -> {
                if (!closing && !w.partition.revoked) {
                    submit(w);
                }
            }, delayMs, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // The transport is closing; the record stays undecided and is delivered again after a restart.
        }
    }

    private void process(Work w, Slot slot) {
        PartitionState ps = w.partition;
        // The worker's own slot, not a counter shared by all workers (and one per partition): two atomic
        // increments and decrements per record on counters every worker writes kept moving their cache lines
        // between the cores. A volatile write: close and revocation must see it or this worker their flag.
        slot.current = w;
        boolean sends = false;
        boolean settlesLater = false;
        try {
            if (closing || ps.revoked) {
                return; // not started: it stays undecided and is delivered again to whoever owns the partition
            }
            TransportMessage message;
            try {
                message = CloudEventsBinding.fromRecord(stream, w.record, filter);
            } catch (CloudEventsBinding.MalformedRecordException e) {
                sends = hold(ps);
                settlesLater = deadLetter(w, null, Outcome.dead("malformed record: " + e.getMessage(), e, Map.of()));
                return;
            }
            if (message == CloudEventsBinding.SKIPPED) {
                w.done = true; // another group's replay, or a type nobody here wants: decided without decoding
                return;
            }
            if (w.extraHeaders != null) {
                message = message.withHeaders(w.extraHeaders);
            }
            Outcome outcome;
            try {
                outcome = handler.handle(new Delivery(message, w.attempt, ps.origin + w.record.offset()));
                if (outcome == null) {
                    throw new NullPointerException("the handler returned a null outcome");
                }
            } catch (Throwable t) {
                long delay = Math.min(5000, 50L << Math.min(10, w.attempt - 1));
                log.warn("handler of group '{}' threw on {} instead of returning an outcome; delivering it again in "
                        + "{} ms", group, origin(w.record), delay, t);
                w.attempt++;
                schedule(w, delay);
                return;
            }
            if (abandoned) {
                return;
            }
            switch (outcome.kind()) {
                case ACK -> w.done = true;
                case RETRY -> {
                    sends = hold(ps);
                    settlesLater = retry(w, outcome);
                }
                case DEAD -> {
                    sends = hold(ps);
                    settlesLater = deadLetter(w, message, outcome);
                }
                default -> throw new IllegalStateException("unknown outcome " + outcome);
            }
        } finally {
            if (sends && !settlesLater) {
                settle(ps);
            }
            // No fence needed to say "done": the next record's volatile write has one.
            SLOT_CURRENT.setRelease((SlotValue) slot, (Work) null);
        }
    }

    /** Counts an outcome that may settle in a producer callback; {@link #settle} when it has. */
    private boolean hold(PartitionState ps) {
        ps.sending.incrementAndGet();
        sending.incrementAndGet();
        return true;
    }

    private void settle(PartitionState ps) {
        ps.sending.decrementAndGet();
        sending.decrementAndGet();
    }

    /** @return true when the outcome settles in a producer callback */
    private boolean retry(Work w, Outcome outcome) {
        if (retryTopic == null) {
            retryInMemory(w, outcome);
            return false;
        }
        ProducerRecord<byte[], byte[]> rec = retryRecord(w, outcome);
        try {
            producer.send(rec, (md, e) -> {
                try {
                    if (e == null) {
                        w.done = true;
                    } else {
                        log.warn("could not park {} in retry topic '{}'; it waits in memory instead", origin(w.record),
                                retryTopic, e);
                        retryInMemory(w, outcome);
                    }
                } finally {
                    settle(w.partition);
                }
            });
            return true;
        } catch (RuntimeException e) {
            log.warn("could not park {} in retry topic '{}'; it waits in memory instead", origin(w.record), retryTopic, e);
            retryInMemory(w, outcome);
            return false;
        }
    }

    private void retryInMemory(Work w, Outcome outcome) {
        if (!outcome.headers().isEmpty()) {
            Map<String, String> merged = w.extraHeaders == null ? new LinkedHashMap<>() : new LinkedHashMap<>(w.extraHeaders);
            merged.putAll(outcome.headers());
            w.extraHeaders = merged;
        }
        w.attempt++;
        schedule(w, outcome.delay().toMillis());
    }

    private ProducerRecord<byte[], byte[]> retryRecord(Work w, Outcome outcome) {
        ConsumerRecord<byte[], byte[]> r = w.record;
        Map<String, String> set = new LinkedHashMap<>();
        if (w.extraHeaders != null) {
            set.putAll(w.extraHeaders);
        }
        set.putAll(outcome.headers());
        if (r.headers().lastHeader(MessageHeaders.FIRST_FAILURE) == null) {
            set.putIfAbsent(MessageHeaders.FIRST_FAILURE, Instant.now().toString());
        }
        Headers headers = copyExcept(r.headers(), set.keySet(), Set.of(H_ATTEMPT, H_DUE));
        for (Map.Entry<String, String> e : set.entrySet()) {
            headers.add(CloudEventsBinding.encodeHeader(e.getKey(), e.getValue()));
        }
        headers.add(H_ATTEMPT, CloudEventsBinding.utf8(Integer.toString(w.attempt + 1)));
        headers.add(H_DUE, CloudEventsBinding.utf8(Long.toString(System.currentTimeMillis() + outcome.delay().toMillis())));
        if (headers.lastHeader(H_ORIGINAL_TOPIC) == null) {
            headers.add(H_ORIGINAL_TOPIC, CloudEventsBinding.utf8(r.topic()));
            headers.add(H_ORIGINAL_PARTITION, CloudEventsBinding.utf8(Integer.toString(r.partition())));
            headers.add(H_ORIGINAL_OFFSET, CloudEventsBinding.utf8(Long.toString(r.offset())));
        }
        return new ProducerRecord<>(retryTopic, null, r.key(), r.value(), headers);
    }

    /** @return true when the outcome settles in a producer callback */
    private boolean deadLetter(Work w, TransportMessage message, Outcome outcome) {
        ProducerRecord<byte[], byte[]> rec = deadLetterRecord(w, outcome);
        try {
            producer.send(rec, (md, e) -> {
                try {
                    if (e == null) {
                        w.done = true;
                    } else {
                        deadLetterFailed(w, message, outcome, e);
                    }
                } finally {
                    settle(w.partition);
                }
            });
            return true;
        } catch (RuntimeException e) {
            deadLetterFailed(w, message, outcome, e);
            return false;
        }
    }

    private void deadLetterFailed(Work w, TransportMessage message, Outcome outcome, Exception e) {
        log.error("could not write {} to dead-letter topic '{}'; trying again in 1 s (its offset is not committed "
                + "meanwhile)", origin(w.record), deadLetterTopic, e);
        try {
            scheduler.schedule(() -> {
                PartitionState ps = w.partition;
                hold(ps);
                boolean later = false;
                try {
                    if (!closing && !ps.revoked) {
                        later = deadLetter(w, message, outcome);
                    }
                } finally {
                    if (!later) {
                        settle(ps);
                    }
                }
            }, 1, TimeUnit.SECONDS);
        } catch (RejectedExecutionException closed) {
            // closing: the record stays undecided and is delivered again later
        }
    }

    private ProducerRecord<byte[], byte[]> deadLetterRecord(Work w, Outcome outcome) {
        ConsumerRecord<byte[], byte[]> r = w.record;
        Headers in = r.headers();
        Map<String, String> set = new LinkedHashMap<>(outcome.headers());
        set.putIfAbsent(MessageHeaders.DLQ_REASON, outcome.reason());
        Throwable cause = outcome.cause();
        if (cause != null) {
            set.putIfAbsent(MessageHeaders.DLQ_EXCEPTION, cause.getClass().getName());
            if (cause.getMessage() != null) {
                set.putIfAbsent(MessageHeaders.DLQ_MESSAGE, truncate(cause.getMessage()));
            }
            set.putIfAbsent(MessageHeaders.DLQ_STACK, stack(cause));
        }
        if (in.lastHeader(MessageHeaders.ATTEMPTS) == null) {
            set.putIfAbsent(MessageHeaders.ATTEMPTS, Integer.toString(w.attempt));
        }
        if (in.lastHeader(MessageHeaders.FIRST_FAILURE) == null) {
            set.putIfAbsent(MessageHeaders.FIRST_FAILURE, Instant.now().toString());
        }
        String origTopic = CloudEventsBinding.header(in, H_ORIGINAL_TOPIC);
        String origPartition = CloudEventsBinding.header(in, H_ORIGINAL_PARTITION);
        String origOffset = CloudEventsBinding.header(in, H_ORIGINAL_OFFSET);
        if (origTopic == null || origPartition == null || origOffset == null) {
            origTopic = r.topic();
            origPartition = Integer.toString(r.partition());
            origOffset = Long.toString(r.offset());
        }
        set.put(MessageHeaders.DLQ_GROUP, group);
        set.put(MessageHeaders.DLQ_ORIGINAL_STREAM, stream);
        set.put(MessageHeaders.DLQ_ORIGIN, origTopic + "-" + origPartition + "@" + origOffset);
        set.put(MessageHeaders.DLQ_TIME, Instant.now().toString());
        set.put(DLQ_ORIGINAL_TOPIC, origTopic);
        set.put(DLQ_ORIGINAL_PARTITION, origPartition);
        set.put(DLQ_ORIGINAL_OFFSET, origOffset);
        Headers headers = copyExcept(in, set.keySet(), null);
        for (Map.Entry<String, String> e : set.entrySet()) {
            if (e.getValue() != null) {
                headers.add(CloudEventsBinding.encodeHeader(e.getKey(), e.getValue()));
            }
        }
        return new ProducerRecord<>(deadLetterTopic, null, r.key(), r.value(), headers);
    }

    /** The record's headers without the transport's internal ones (except {@code keepInternal}) and without
     * those about to be set. */
    private static Headers copyExcept(Headers in, Set<String> replacedNames, Set<String> dropInternal) {
        RecordHeaders out = new RecordHeaders();
        for (Header h : in) {
            String k = h.key();
            if (k.startsWith(CloudEventsBinding.INTERNAL_PREFIX)) {
                boolean keep = dropInternal != null && !dropInternal.contains(k) && !k.equals(H_REPLAY_GROUP);
                if (!keep) {
                    continue;
                }
            } else if (replacedNames.contains(CloudEventsBinding.messageName(k))) {
                continue;
            }
            out.add(h);
        }
        return out;
    }

    private static String origin(ConsumerRecord<?, ?> r) {
        return r.topic() + "-" + r.partition() + "@" + r.offset();
    }

    private static String truncate(String s) {
        return s.length() <= MAX_HEADER_TEXT ? s : s.substring(0, MAX_HEADER_TEXT) + "...";
    }

    private static String stack(Throwable t) {
        StringWriter sw = new StringWriter();
        t.printStackTrace(new PrintWriter(sw));
        String[] lines = sw.toString().split("\\R");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(lines.length, STACK_LINES); i++) {
            sb.append(i == 0 ? "" : "\n").append(lines[i]);
        }
        if (lines.length > STACK_LINES) {
            sb.append("\n\t... ").append(lines.length - STACK_LINES).append(" more lines");
        }
        return truncate(sb.toString());
    }

    private static int intHeader(Headers h, String name, int def) {
        String v = CloudEventsBinding.header(h, name);
        try {
            return v == null ? def : Math.max(1, Integer.parseInt(v.trim()));
        } catch (NumberFormatException e) {
            return def;
        }
    }

    private static long longHeader(Headers h, String name, long def) {
        String v = CloudEventsBinding.header(h, name);
        try {
            return v == null ? def : Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            return def;
        }
    }

    // ------------------------------------------------------------------------------------------------ closing

    /** Stops intake now; {@link #awaitClosed()} waits for the rest. */
    public void beginClose(Duration timeout) {
        if (closeStarted.compareAndSet(false, true)) {
            closeDeadlineNanos = System.nanoTime() + timeout.toNanos();
            closing = true;
            main.consumer.wakeup();
            if (retry != null) {
                retry.consumer.wakeup();
            }
        }
    }

    /** Waits for the poll thread to finish its close (handlers, commit, leaving the group). */
    public void awaitClosed() {
        long waitNanos = Math.max(0, closeDeadlineNanos - System.nanoTime()) + CLOSE_GRACE.toNanos() * 3;
        try {
            Thread self = Thread.currentThread();
            boolean own = self == main.thread || (retry != null && self == retry.thread);
            if (!own && !terminated.await(waitNanos, TimeUnit.NANOSECONDS)) {
                log.warn("subscription of group '{}' on '{}' did not finish closing in time", group, topic);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close(Duration timeout) {
        beginClose(timeout);
        awaitClosed();
    }

    /** True once closed (or dead). */
    public boolean isClosed() {
        return terminated.getCount() == 0;
    }

    private static void awaitRunning(java.util.function.BooleanSupplier done, long deadlineNanos) {
        while (!done.getAsBoolean() && System.nanoTime() - deadlineNanos < 0) {
            sleepQuietly(1);
        }
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "KafkaSubscription{group=" + group + ", topic=" + topic + (retryTopic == null ? "" : ", retryTopic="
                + retryTopic) + ", concurrency=" + request.concurrency() + '}';
    }

    private static final java.lang.invoke.VarHandle SLOT_CURRENT;

    static {
        try {
            SLOT_CURRENT = java.lang.invoke.MethodHandles.lookup().findVarHandle(SlotValue.class, "current", Work.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Padding before a worker's slot, so two workers' slots never share a cache line. */
    @SuppressWarnings("unused")
    static class SlotPadBefore {
        long p0, p1, p2, p3, p4, p5, p6, p7;
    }

    static class SlotValue extends SlotPadBefore {
        /** The record the worker is handling, or null. */
        volatile Work current;
        /** Records of {@link LaneBatch}es this worker has finished (decided or left undecided). */
        volatile long finished;
    }

    /** One worker's slot (superclass fields are laid out first, so {@code current} sits between the pads). */
    @SuppressWarnings("unused")
    static final class Slot extends SlotValue {
        long q0, q1, q2, q3, q4, q5, q6, q7;
    }

    /** Records the main loop dispatched to a lane, counted by {@link Loop#holdBack} (redeliveries are not). */
    static final class LaneBatch extends ArrayList<Work> {
        private static final long serialVersionUID = 1L;
    }

    /** One polled record on its way through the handler. */
    static final class Work {
        final ConsumerRecord<byte[], byte[]> record;
        final PartitionState partition;
        int lane;
        int attempt = 1;
        /** Headers merged by in-memory redeliveries. */
        Map<String, String> extraHeaders;
        volatile boolean done;
        /** Next in the partition's list (poll thread only). */
        Work next;

        Work(ConsumerRecord<byte[], byte[]> record, PartitionState partition) {
            this.record = record;
            this.partition = partition;
        }
    }

    /** One assigned partition: the records polled from it and not yet decided, in offset order. */
    static final class PartitionState {
        final TopicPartition tp;
        final boolean retry;
        /** Outcomes of this partition settling in a producer callback. */
        final AtomicInteger sending = new AtomicInteger();
        volatile boolean revoked;
        // poll thread only
        Work head;
        Work tail;
        int size;
        long nextOffset = -1;
        long committed = -1;
        boolean paused;

        /** {@code topic-partition@}, so a delivery's origin costs one concatenation. */
        final String origin;

        PartitionState(TopicPartition tp, boolean retry) {
            this.tp = tp;
            this.retry = retry;
            this.origin = tp.topic() + "-" + tp.partition() + "@";
        }

        void append(Work w) {
            if (tail == null) {
                head = w;
            } else {
                tail.next = w;
            }
            tail = w;
            size++;
        }

        void advance() {
            while (head != null && head.done) {
                Work next = head.next;
                head.next = null;
                head = next;
                size--;
            }
            if (head == null) {
                tail = null;
            }
        }
    }
}
