package dev.eventbus.kafka.internal;

import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.kafka.KafkaSubscription;
import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
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

/**
 * One subscription: its worker lanes, the outcomes of its records, and its lifecycle. The parts:
 * <ul>
 *   <li>{@link PollLoop}: a Kafka consumer of the group with its poll thread (poll, route, commit, rebalance); one
 *       on the stream's topic and, with retry topics, one on the group's retry topic.</li>
 *   <li>{@link PartitionState} and {@link Work}: offset bookkeeping, and {@link FinishedOffsets}, the decided
 *       offsets beyond the commit point written into the commit's metadata.</li>
 *   <li>This class: the workers ({@link WorkerSlot}), each record's outcome (ACK, retry, dead letter), close.</li>
 *   <li>{@link RetryTopicRecords} and {@link DeadLetterRecords}: the records a retry or a dead letter writes.</li>
 * </ul>
 *
 * <p>How it keeps its promises:
 * <ul>
 *   <li>The poll thread only polls, routes records to lanes and commits; handlers run on {@code concurrency}
 *       worker threads, so a slow handler never makes the consumer miss {@code max.poll.interval.ms}.</li>
 *   <li>Order: with {@code orderedByKey}, a record goes to the lane of its key (null key: of its partition) and
 *       each lane is one thread, so records of one key are handled one after the other, in offset order.</li>
 *   <li>Commits: every polled record joins its partition's list in offset order; a record leaves the head of the
 *       list once its outcome is decided (ACK, parked in the retry topic, written to the dead-letter topic,
 *       skipped). The committed offset is the first undecided record's, never beyond it; the records decided
 *       beyond it go into the commit's metadata, and a new owner of the partition skips them.</li>
 *   <li>Backpressure: a partition with more than {@code max-pending-per-partition} undecided records is paused.</li>
 *   <li>Rebalance and close: queued records of a revoked partition are not started; running ones get up to
 *       {@code revoke-timeout} (or the close timeout) to finish; then the decided offsets are committed.</li>
 * </ul>
 */
public final class SubscriptionRunner implements KafkaSubscription {

    private static final Logger log = LoggerFactory.getLogger(SubscriptionRunner.class);
    private static final List<Work> POISON = new ArrayList<>(0);
    /** Time given to the final commit and to leaving the group, on top of the close timeout for handlers. */
    static final Duration CLOSE_GRACE = Duration.ofSeconds(5);

    final KafkaConfig config;
    private final SubscriptionRequest request;
    private final MessageHandler handler;
    final String group;
    private final String stream;
    final String topic;
    private final String retryTopic;
    private final String deadLetterTopic;
    private final Producer<byte[], byte[]> producer;
    private final ScheduledExecutorService scheduler;
    private final java.util.function.Consumer<SubscriptionRunner> onClosed;

    final boolean ordered;
    final int laneCount;
    final BlockingQueue<List<Work>>[] queues;
    private final Thread[] workers;
    /** The stream's topic; and the group's retry topic, read by a consumer of its own in the same group. */
    private final PollLoop main;
    private final PollLoop retry;
    private final AtomicInteger liveLoops;
    private final byte[] groupBytes;
    /** Replays for other groups and unwanted types, skipped in the same pass that reads the headers. */
    private volatile CloudEventsBinding.Filter filter;

    final Object assignmentMonitor = new Object();
    /** What each worker is handling right now: read by close and revocation, written only by its worker. */
    final WorkerSlot[] slots;
    /** Outcomes that settle in a producer callback (retry and dead-letter sends): the rare path. */
    private final AtomicInteger sending = new AtomicInteger();
    private final AtomicBoolean closeStarted = new AtomicBoolean();
    volatile boolean closing;
    volatile boolean abandoned;
    volatile long closeDeadlineNanos;
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
        this.slots = new WorkerSlot[laneCount];
        for (int i = 0; i < laneCount; i++) {
            BlockingQueue<List<Work>> q = queues[ordered ? i : 0];
            WorkerSlot slot = new WorkerSlot();
            slots[i] = slot;
            workers[i] = workerThreads.newThread(() -> workLoop(q, slot));
        }
        this.main = new PollLoop(this, topic, false, name + "-poll");
        PollLoop r = null;
        try {
            r = retryTopic == null ? null : new PollLoop(this, retryTopic, true, name + "-retry-poll");
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

    /** The {@code client.id} of the consumer on the stream's topic: this subscription's member of the group. */
    public String clientId() {
        return main.clientId;
    }

    /**
     * A replay: the poll thread starts each partition it holds among {@code targets} over at its target offset and
     * commits it. Completes with the partitions it moved, or exceptionally when the subscription closed first.
     */
    public java.util.concurrent.CompletableFuture<Map<TopicPartition, Long>> seek(Map<TopicPartition, Long> targets) {
        return main.requestSeek(targets);
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
            filter = new CloudEventsBinding.Filter(null, groupBytes, null, null, handler::knowsType);
            return;
        }
        byte[][] t = new byte[types.size()][];
        int i = 0;
        for (String s : types) {
            t[i++] = CloudEventsBinding.utf8(s);
        }
        // No header addresses a record on the main topic to one group: anyone may write there (a dead letter's
        // replay to one group goes through that group's retry topic, where only the bus writes).
        filter = new CloudEventsBinding.Filter(null, groupBytes, t, Set.copyOf(types), handler::knowsType);
    }

    int laneOf(ConsumerRecord<byte[], byte[]> r, int partitionLane) {
        if (!ordered) {
            return 0;
        }
        byte[] key = r.key();
        return key == null ? partitionLane : Math.floorMod(Arrays.hashCode(key) * 0x9E3779B9, laneCount);
    }

    /** Called by each loop's thread when it has finished; the last one stops the workers. */
    void loopFinished() {
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

    // ------------------------------------------------------------------------------------------------ workers

    /**
     * Records being handled or settling, of {@code states} only or (null) of all partitions. The slots are read
     * before the send counters: a worker counts a send before it clears its slot, so a send is never missed.
     * The caller sets {@code closing} or {@code revoked} first; a worker sets its slot before reading them; so
     * either the caller sees the record here or the worker sees the flag and leaves the record undecided.
     */
    int busy(List<PartitionState> states) {
        int n = 0;
        for (WorkerSlot slot : slots) {
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

    private void workLoop(BlockingQueue<List<Work>> queue, WorkerSlot slot) {
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
            if (batch instanceof WorkerSlot.LaneBatch) {
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

    void schedule(Work w, long delayMs) {
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

    private void process(Work w, WorkerSlot slot) {
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
                warnMalformed(w, e);
                sends = hold(ps);
                settlesLater = deadLetter(w, null, Outcome.dead("malformed record: " + e.getMessage(), e, Map.of()));
                return;
            }
            if (message == CloudEventsBinding.SKIPPED) {
                w.done = true; // another group's replay, or a type nobody here wants: decided without decoding
                return;
            }
            if (!ps.retry) {
                // The main topic: retries come from the retry topic (or memory), so bookkeeping headers here are
                // forged (or left by an older version's replay): never believed.
                message = message.withoutBookkeeping();
            }
            if (w.extraHeaders != null) {
                message = message.withHeaders(w.extraHeaders);
            }
            if (request.filter() != null && !request.filter().matches(message)) {
                w.done = true; // push-down: no subscriber of the group wants it; skipped before any decoding
                handler.filteredOut(message);
                return;
            }
            if (request.deferredOutcomes()) {
                settlesLater = processDeferred(w, message);
                sends = settlesLater;
                return;
            }
            Outcome outcome;
            try {
                outcome = handler.handle(new Delivery(message, w.attempt, ps.origin + w.record.offset(),
                        new RecordAttributes(w.record, message.key())));
                if (outcome == null) {
                    throw new NullPointerException("the handler returned a null outcome");
                }
            } catch (Throwable t) {
                long delay = Math.min(5000, 50L << Math.min(10, w.attempt - 1));
                log.warn("handler of group '{}' threw on {} instead of returning an outcome; delivering it again in "
                        + "{} ms", group, DeadLetterRecords.origin(w.record), delay, t);
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
            slot.clearRelease();
        }
    }

    /**
     * A batch subscriber's group ({@link SubscriptionRequest#deferredOutcomes()}): the outcome may come later, while
     * this worker goes on with the lane's next records. Until it comes the record counts as settling (close and
     * revocation wait for it, its offset is not committed); then it is acted on as a synchronous outcome is.
     *
     * @return true when the outcome settles later (the caller's {@code finally} must not settle it)
     */
    private boolean processDeferred(Work w, TransportMessage message) {
        PartitionState ps = w.partition;
        java.util.concurrent.CompletableFuture<Outcome> f;
        try {
            f = handler.handleAsync(new Delivery(message, w.attempt, ps.origin + w.record.offset()));
            if (f == null) {
                throw new NullPointerException("the handler returned a null future");
            }
        } catch (Throwable t) {
            f = java.util.concurrent.CompletableFuture.failedFuture(t);
        }
        hold(ps);
        f.whenComplete((outcome, failure) -> {
            boolean later = false;
            try {
                later = settleDeferred(w, message, outcome, failure);
            } finally {
                if (!later) {
                    settle(ps);
                }
            }
        });
        return true;
    }

    /** @return true when the outcome's send settles in a producer callback (which then settles the hold) */
    private boolean settleDeferred(Work w, TransportMessage message, Outcome outcome, Throwable failure) {
        if (outcome == null) {
            if (abandoned || closing) {
                return false; // not acknowledged: delivered again after the restart or to the partition's next owner
            }
            long delay = Math.min(5000, 50L << Math.min(10, w.attempt - 1));
            log.warn("handler of group '{}' failed on {} instead of returning an outcome; delivering it again in "
                    + "{} ms", group, DeadLetterRecords.origin(w.record), delay, failure);
            w.attempt++;
            schedule(w, delay);
            return false;
        }
        if (abandoned) {
            return false;
        }
        switch (outcome.kind()) {
            case ACK -> {
                w.done = true;
                return false;
            }
            case RETRY -> {
                return retry(w, outcome);
            }
            case DEAD -> {
                return deadLetter(w, message, outcome);
            }
            default -> throw new IllegalStateException("unknown outcome " + outcome);
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
    /** When the next malformed-record WARN may be logged (nanoTime), and how many were suppressed meanwhile. */
    private final java.util.concurrent.atomic.AtomicLong nextMalformedLog = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong malformedSuppressed = new java.util.concurrent.atomic.AtomicLong();

    /** Malformed records are dead-lettered one by one but logged at most every 10 s: a flood must not flood the log. */
    private void warnMalformed(Work w, RuntimeException e) {
        long now = System.nanoTime();
        long due = nextMalformedLog.get();
        if ((due != 0 && now - due < 0) || !nextMalformedLog.compareAndSet(due, now + 10_000_000_000L)) {
            malformedSuppressed.incrementAndGet();
            return;
        }
        long suppressed = malformedSuppressed.getAndSet(0);
        log.warn("group '{}' on '{}' dead-lettered malformed record {}: {}{}", group, stream,
                DeadLetterRecords.origin(w.record), e.getMessage(),
                suppressed == 0 ? "" : " (" + suppressed + " similar lines suppressed)");
    }

    private boolean retry(Work w, Outcome outcome) {
        if (retryTopic == null) {
            retryInMemory(w, outcome);
            return false;
        }
        ProducerRecord<byte[], byte[]> rec = RetryTopicRecords.of(retryTopic, w, outcome);
        try {
            producer.send(rec, (md, e) -> {
                try {
                    if (e == null) {
                        w.done = true;
                    } else {
                        log.warn("could not park {} in retry topic '{}'; it waits in memory instead", DeadLetterRecords.origin(w.record),
                                retryTopic, e);
                        retryInMemory(w, outcome);
                    }
                } finally {
                    settle(w.partition);
                }
            });
            return true;
        } catch (RuntimeException e) {
            log.warn("could not park {} in retry topic '{}'; it waits in memory instead", DeadLetterRecords.origin(w.record), retryTopic, e);
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

    /** @return true when the outcome settles in a producer callback */
    private boolean deadLetter(Work w, TransportMessage message, Outcome outcome) {
        return deadLetter(w, message, outcome, null);
    }

    /** @param tooLarge null; or why the whole record could not be written, and the dead letter goes without body */
    private boolean deadLetter(Work w, TransportMessage message, Outcome outcome, Exception tooLarge) {
        ProducerRecord<byte[], byte[]> rec = DeadLetterRecords.of(deadLetterTopic, group, stream, w, outcome);
        if (tooLarge != null) {
            rec = DeadLetterRecords.withoutBody(rec, w.record, tooLarge);
        }
        try {
            producer.send(rec, (md, e) -> {
                try {
                    if (e == null) {
                        w.done = true;
                    } else {
                        deadLetterFailed(w, message, outcome, e, tooLarge != null);
                    }
                } finally {
                    settle(w.partition);
                }
            });
            return true;
        } catch (RuntimeException e) {
            deadLetterFailed(w, message, outcome, e, tooLarge != null);
            return false;
        }
    }

    private void deadLetterFailed(Work w, TransportMessage message, Outcome outcome, Exception e,
                                  boolean wasWithoutBody) {
        // A record too large for the producer never fits: retrying it whole would pin the partition's offset
        // forever. It is written once more without its body (headers, reason, size, origin), and consumption moves on.
        Exception tooLarge = !wasWithoutBody && isTooLarge(e) ? e : null;
        if (tooLarge != null) {
            log.warn("dead letter of {} ({} bytes) is too large for dead-letter topic '{}'; writing it without its "
                    + "body: {}", DeadLetterRecords.origin(w.record), bodySize(w.record), deadLetterTopic, e.toString());
        } else {
            log.error("could not write {} to dead-letter topic '{}'; trying again in 1 s (its offset is not "
                    + "committed meanwhile)", DeadLetterRecords.origin(w.record), deadLetterTopic, e);
        }
        try {
            scheduler.schedule(() -> {
                PartitionState ps = w.partition;
                hold(ps);
                boolean later = false;
                try {
                    if (!closing && !ps.revoked) {
                        later = deadLetter(w, message, outcome, tooLarge != null ? tooLarge
                                : wasWithoutBody ? e : null);
                    }
                } finally {
                    if (!later) {
                        settle(ps);
                    }
                }
            }, tooLarge != null ? 0 : 1000, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException closed) {
            // closing: the record stays undecided and is delivered again later
        }
    }

    private static boolean isTooLarge(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof org.apache.kafka.common.errors.RecordTooLargeException
                    || t instanceof org.apache.kafka.common.errors.RecordBatchTooLargeException) {
                return true;
            }
        }
        return false;
    }

    private static int bodySize(org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]> r) {
        return r.value() == null ? 0 : r.value().length;
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

    static void awaitRunning(java.util.function.BooleanSupplier done, long deadlineNanos) {
        while (!done.getAsBoolean() && System.nanoTime() - deadlineNanos < 0) {
            sleepQuietly(1);
        }
    }

    static void sleepQuietly(long ms) {
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
}
