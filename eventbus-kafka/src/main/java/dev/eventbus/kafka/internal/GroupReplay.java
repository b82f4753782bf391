package dev.eventbus.kafka.internal;

import dev.eventbus.EventBusException;
import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayResult;
import dev.eventbus.kafka.KafkaConfig;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RetriableException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The Kafka transport's replay of one group on one topic. Target offsets come from the admin client
 * ({@code ListOffsets}: earliest, by timestamp, latest; {@code read_committed}); a time after the last record, or an
 * offset past the end, is the end offset, and an offset before the log start is the log start.
 *
 * <p>Who may move which partition:
 * <ul>
 *   <li>Partitions this transport's running subscriptions of the group hold: their poll threads seek and commit
 *       ({@link SubscriptionRunner#seek}), so the running consumers continue from the new offsets at once.</li>
 *   <li>A group with no members at all: the committed offsets are altered through the admin client (what
 *       {@code kafka-consumer-groups --reset-offsets} does); the group starts there when it next runs.</li>
 *   <li>Partitions other instances hold: refused, before anything moves. Their consumers keep their positions in
 *       memory and would commit over an offset altered from here; a seek can only be made by the consumer that holds
 *       the partition.</li>
 * </ul>
 * A rebalance in progress is waited for (up to the topic timeout); partitions that changed hands between the check and
 * the seek are tried again. Blocks on the broker; any thread.
 */
public final class GroupReplay {

    private static final Logger log = LoggerFactory.getLogger(GroupReplay.class);

    private final Admin admin;
    private final KafkaConfig config;
    private final String transport;

    public GroupReplay(Admin admin, KafkaConfig config, String transport) {
        this.admin = admin;
        this.config = config;
        this.transport = transport;
    }

    /**
     * Moves {@code group} on {@code stream}'s topic to {@code from}.
     *
     * @param local this transport's running subscriptions of the group on the topic
     * @throws IllegalStateException    when other instances hold partitions of the topic, or the group has members
     *                                  elsewhere but none here reads the topic
     * @throws IllegalArgumentException when {@code from} names a partition the topic does not have
     * @throws EventBusException        when the broker fails or the group does not settle in time
     */
    public ReplayResult replay(String group, String stream, String topic, ReplayFrom from,
                               List<SubscriptionRunner> local) {
        long deadline = System.nanoTime() + config.topicTimeout().toNanos();
        int partitionCount = partitionCount(topic);
        Map<TopicPartition, Long> targets = targets(topic, partitionCount, from);
        Map<TopicPartition, OffsetAndMetadata> committed = get(admin.listConsumerGroupOffsets(group)
                .partitionsToOffsetAndMetadata(), "list the committed offsets of group '" + group + "'");
        Map<TopicPartition, Long> remaining = new TreeMap<>(java.util.Comparator.comparingInt(TopicPartition::partition));
        remaining.putAll(targets);
        Map<TopicPartition, Long> moved = new HashMap<>();
        Set<String> ours = new HashSet<>();
        for (SubscriptionRunner r : local) {
            ours.add(r.clientId());
        }
        while (true) {
            ConsumerGroupDescription g = get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group),
                    "describe group '" + group + "'");
            Map<String, List<Integer>> others = new TreeMap<>();
            Set<TopicPartition> heldHere = new HashSet<>();
            for (MemberDescription m : g.members()) {
                for (TopicPartition tp : m.assignment().topicPartitions()) {
                    if (!tp.topic().equals(topic)) {
                        continue;
                    }
                    if (ours.contains(m.clientId())) {
                        heldHere.add(tp);
                    } else {
                        others.computeIfAbsent(m.clientId() + " on " + m.host(), k -> new ArrayList<>()).add(tp.partition());
                    }
                }
            }
            if (!others.isEmpty()) {
                throw new IllegalStateException("cannot replay group '" + group + "' on topic '" + topic
                        + "': other instances of the group hold partitions of it " + others + (moved.isEmpty() ? ""
                        : " (moved meanwhile: " + moved + ")") + ". A Kafka replay moves the partitions this"
                        + " instance's subscriptions hold, or the committed offsets of a group with no members: close"
                        + " the group's subscriptions on the other instances (or stop them), replay, then start them"
                        + " again; they continue from the new offsets");
            }
            if (local.isEmpty()) {
                if (!g.members().isEmpty()) {
                    throw new IllegalStateException("cannot replay group '" + group + "' on topic '" + topic + "': the"
                            + " group has " + g.members().size() + " member(s) elsewhere (state " + g.groupState()
                            + ") and no subscription of it here reads the topic. Replay where the group's"
                            + " subscriptions run, or when the group has no members");
                }
                alter(group, remaining);
                moved.putAll(remaining);
                break;
            }
            if (g.groupState() == GroupState.STABLE && heldHere.containsAll(remaining.keySet())) {
                for (Map.Entry<TopicPartition, Long> e : seek(local, remaining, deadline).entrySet()) {
                    moved.put(e.getKey(), e.getValue());
                    remaining.remove(e.getKey());
                }
                if (remaining.isEmpty()) {
                    break;
                }
            }
            if (System.nanoTime() - deadline > 0) {
                throw new EventBusException("replay of group '" + group + "' on topic '" + topic + "' did not finish"
                        + " within " + config.topicTimeout().toMillis() + " ms (" + KafkaConfig.TOPIC_TIMEOUT
                        + "): the group is rebalancing (state " + g.groupState() + ") and partitions "
                        + remaining.keySet() + " are not held here yet; moved: " + moved + ". Try again", null, true);
            }
            SubscriptionRunner.sleepQuietly(100);
        }
        List<ReplayResult.Move> moves = new ArrayList<>();
        for (TopicPartition tp : targets.keySet()) {
            if (moved.containsKey(tp)) {
                OffsetAndMetadata c = committed.get(tp);
                moves.add(new ReplayResult.Move(transport, stream, tp.partition(), c == null ? -1 : c.offset(),
                        moved.get(tp)));
            }
        }
        moves.sort(java.util.Comparator.comparingInt(ReplayResult.Move::partition));
        log.info("group '{}' replays topic '{}' from {}: {}", group, topic, from, moves);
        return new ReplayResult(group, from, moves);
    }

    private int partitionCount(String topic) {
        return get(admin.describeTopics(List.of(topic)).topicNameValues().get(topic), "describe topic '" + topic + "'")
                .partitions().size();
    }

    /** The offset each partition reads next after the replay, clamped to what the log holds. */
    private Map<TopicPartition, Long> targets(String topic, int partitionCount, ReplayFrom from) {
        List<TopicPartition> tps = new ArrayList<>();
        if (from.kind() == ReplayFrom.Kind.PARTITION_POSITIONS) {
            for (int p : from.positions().keySet()) {
                if (p >= partitionCount) {
                    throw new IllegalArgumentException("topic '" + topic + "' has partitions 0 to "
                            + (partitionCount - 1) + "; there is no partition " + p);
                }
                tps.add(new TopicPartition(topic, p));
            }
        } else {
            for (int p = 0; p < partitionCount; p++) {
                tps.add(new TopicPartition(topic, p));
            }
        }
        Map<TopicPartition, Long> earliest = offsets(tps, OffsetSpec.earliest());
        Map<TopicPartition, Long> latest = offsets(tps, OffsetSpec.latest());
        Map<TopicPartition, Long> byTime = from.kind() == ReplayFrom.Kind.TIME
                ? offsets(tps, OffsetSpec.forTimestamp(from.time().toEpochMilli())) : Map.of();
        Map<TopicPartition, Long> out = new HashMap<>();
        for (TopicPartition tp : tps) {
            long start = earliest.get(tp);
            long end = latest.get(tp);
            long target = switch (from.kind()) {
                case BEGINNING -> start;
                case TIME -> {
                    long t = byTime.getOrDefault(tp, -1L);
                    yield t < 0 ? end : t; // no record at or after the time: the end
                }
                case POSITION -> from.position();
                case PARTITION_POSITIONS -> from.positions().get(tp.partition());
            };
            out.put(tp, Math.max(start, Math.min(end, target)));
        }
        return out;
    }

    private Map<TopicPartition, Long> offsets(List<TopicPartition> tps, OffsetSpec spec) {
        Map<TopicPartition, OffsetSpec> ask = new HashMap<>();
        tps.forEach(tp -> ask.put(tp, spec));
        Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> got = get(admin.listOffsets(ask,
                new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all(), "list offsets of " + tps);
        Map<TopicPartition, Long> out = new HashMap<>();
        got.forEach((tp, info) -> out.put(tp, info.offset()));
        return out;
    }

    /** Asks every local subscription's poll thread to seek; returns what they moved. */
    private Map<TopicPartition, Long> seek(List<SubscriptionRunner> local, Map<TopicPartition, Long> targets,
                                           long deadline) {
        List<CompletableFuture<Map<TopicPartition, Long>>> asked = new ArrayList<>();
        for (SubscriptionRunner r : local) {
            asked.add(r.seek(targets));
        }
        Map<TopicPartition, Long> moved = new HashMap<>();
        for (CompletableFuture<Map<TopicPartition, Long>> f : asked) {
            // The poll thread takes it within a poll; the commit may take up to its own grace on top.
            long waitNanos = Math.max(0, deadline - System.nanoTime()) + SubscriptionRunner.CLOSE_GRACE.toNanos();
            moved.putAll(get(f, waitNanos, "seek the group's consumers"));
        }
        return moved;
    }

    private void alter(String group, Map<TopicPartition, Long> targets) {
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        targets.forEach((tp, o) -> offsets.put(tp, new OffsetAndMetadata(o, "")));
        try {
            get(admin.alterConsumerGroupOffsets(group, offsets).all(), "alter the committed offsets of group '"
                    + group + "'");
        } catch (EventBusException e) {
            if (e.getCause() instanceof org.apache.kafka.common.errors.UnknownMemberIdException
                    || e.getCause() instanceof org.apache.kafka.common.errors.GroupNotEmptyException) {
                throw new IllegalStateException("cannot replay group '" + group + "': a member joined it while its"
                        + " offsets were being altered (" + e.getCause().getMessage() + "). Replay where the group's"
                        + " subscriptions run, or when the group has no members", e.getCause());
            }
            throw e;
        }
    }

    private <T> T get(java.util.concurrent.Future<T> f, String what) {
        return get(f, config.topicTimeout().toNanos(), what);
    }

    private static <T> T get(java.util.concurrent.Future<T> f, long timeoutNanos, String what) {
        try {
            return f.get(timeoutNanos, TimeUnit.NANOSECONDS);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof IllegalStateException ise) {
                throw ise;
            }
            throw new EventBusException("replay: could not " + what + ": " + c, c, c instanceof RetriableException);
        } catch (TimeoutException e) {
            throw new EventBusException("replay: could not " + what + " within " + timeoutNanos / 1_000_000 + " ms",
                    e, true);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EventBusException("replay: interrupted while waiting to " + what, e, true);
        }
    }
}
