package dev.eventbus.kafka.internal;

import dev.eventbus.EventBusException;
import dev.eventbus.kafka.KafkaConfig;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Makes sure topics exist before they are used: looks them up once, creates the missing ones when
 * {@code create-topics} allows it, or fails naming them; before a topic is first used, waits until each
 * partition's leader takes requests (see {@link #awaitWritable}). Known topics are remembered, so the check costs one map
 * look-up after the first use. Thread-safe; blocks on the admin client for the first use of a topic.
 */
public final class Topics {

    private final Admin admin;
    private final KafkaConfig config;
    private final Set<String> known = ConcurrentHashMap.newKeySet();

    public Topics(Admin admin, KafkaConfig config) {
        this.admin = admin;
        this.config = config;
    }

    /** Fast check for the send path. */
    public boolean isKnown(String topic) {
        return known.contains(topic);
    }

    /**
     * Ensures every topic exists.
     *
     * @throws EventBusException naming the missing topics (create-topics off) or the admin failure
     */
    public void ensure(Collection<String> topics) {
        ensure(topics, config.topicTimeout().toMillis());
    }

    /**
     * Ensures every topic exists, waiting at most about {@code timeoutMs} per step (look-up, creation, leaders).
     *
     * @throws EventBusException naming the missing topics (create-topics off) or the admin failure
     */
    public void ensure(Collection<String> topics, long timeoutMs) {
        Set<String> unknown = new LinkedHashSet<>();
        for (String t : topics) {
            if (!known.contains(t)) {
                unknown.add(t);
            }
        }
        if (unknown.isEmpty()) {
            return;
        }
        List<String> missing = new ArrayList<>();
        List<TopicDescription> existing = new ArrayList<>();
        try {
            Map<String, KafkaFuture<TopicDescription>> found =
                    admin.describeTopics(unknown).topicNameValues();
            for (String t : unknown) {
                try {
                    existing.add(found.get(t).get(timeoutMs, TimeUnit.MILLISECONDS));
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                        missing.add(t);
                    } else {
                        throw e;
                    }
                }
            }
            // A topic found may have been created a moment ago by another instance: same probe as for our own.
            awaitWritable(existing, timeoutMs);
            for (TopicDescription d : existing) {
                known.add(d.name());
            }
            if (missing.isEmpty()) {
                return;
            }
            if (!config.createTopics()) {
                throw new EventBusException("Kafka topic(s) " + missing + " do not exist and "
                        + KafkaConfig.CREATE_TOPICS + " is false: create them, or set " + KafkaConfig.CREATE_TOPICS
                        + "=true to let the transport create them");
            }
            List<NewTopic> create = new ArrayList<>();
            Optional<Short> rf = config.replicationFactor() < 0 ? Optional.empty() : Optional.of(config.replicationFactor());
            for (String t : missing) {
                create.add(new NewTopic(t, Optional.of(config.partitions()), rf));
            }
            Map<String, KafkaFuture<Void>> created = admin.createTopics(create).values();
            for (String t : missing) {
                try {
                    created.get(t).get(timeoutMs, TimeUnit.MILLISECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
            awaitWritable(awaitLeaders(missing, timeoutMs), timeoutMs);
            known.addAll(missing);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            throw new EventBusException("Could not look up or create Kafka topic(s) " + unknown + " at "
                    + config.bootstrapServers() + ": " + c, c, c instanceof RetriableException);
        } catch (TimeoutException e) {
            throw new EventBusException("Timed out after " + timeoutMs + " ms looking up or creating Kafka topic(s) "
                    + unknown + " at " + config.bootstrapServers() + " (" + KafkaConfig.TOPIC_TIMEOUT + ", on the "
                    + "publish path at most " + KafkaConfig.PUBLISH_TIMEOUT + "); is the broker reachable at "
                    + KafkaConfig.BOOTSTRAP_SERVERS + "?", e, true);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EventBusException("Interrupted while looking up Kafka topic(s) " + unknown, e, true);
        }
    }

    /**
     * Waits until the leader of every partition (that has one) takes requests for it, by asking each for its end
     * offset, which the broker answers only once it acts as the partition's leader, exactly as for a produce
     * request. Brokers before Kafka 4.5 (KAFKA-15591, also KAFKA-14312, KAFKA-19880) publish a new partition in
     * their metadata before their replica manager leads it: an idempotent producer's first request then gets
     * NOT_LEADER_OR_FOLLOWER while its next one, a moment later, is appended (a partition without producer state
     * accepted any first sequence), so the resend of the first gets OUT_OF_ORDER_SEQUENCE_NUMBER until the
     * delivery timeout fails it (reproduced by {@code KafkaFreshTopicTest}: 14 of 24 fresh topics, even after
     * describeTopics showed every leader). The admin client retries NOT_LEADER itself; this loop also retries any
     * other retriable error until the deadline.
     */
    private void awaitWritable(Collection<TopicDescription> topics, long timeoutMs)
            throws ExecutionException, InterruptedException, TimeoutException {
        Map<TopicPartition, OffsetSpec> probe = new HashMap<>();
        for (TopicDescription d : topics) {
            for (TopicPartitionInfo p : d.partitions()) {
                if (p.leader() != null && !p.leader().isEmpty()) {
                    probe.put(new TopicPartition(d.name(), p.partition()), OffsetSpec.latest());
                }
            }
        }
        if (probe.isEmpty()) {
            return;
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (true) {
            long left = Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
            try {
                admin.listOffsets(probe, new ListOffsetsOptions().timeoutMs((int) Math.min(left, Integer.MAX_VALUE)))
                        .all().get(left, TimeUnit.MILLISECONDS);
                return;
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof RetriableException) || System.nanoTime() - deadline > 0) {
                    throw e;
                }
            }
            Thread.sleep(20);
        }
    }

    /**
     * Waits until every partition of freshly created topics has a leader and in-sync replicas, and returns their
     * descriptions.
     */
    private List<TopicDescription> awaitLeaders(List<String> topics, long timeoutMs)
            throws ExecutionException, InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (true) {
            boolean ready = true;
            Map<String, TopicDescription> described;
            try {
                described = admin.describeTopics(topics).allTopicNames().get(timeoutMs, TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                    throw e;
                }
                described = Map.of(); // created but not yet in the metadata the broker answers from
                ready = false;
            }
            for (TopicDescription d : described.values()) {
                for (TopicPartitionInfo p : d.partitions()) {
                    if (p.leader() == null || p.leader().isEmpty() || p.isr().isEmpty()) {
                        ready = false;
                    }
                }
            }
            if (ready) {
                return new ArrayList<>(described.values());
            }
            if (System.nanoTime() - deadline > 0) {
                throw new TimeoutException("partitions of " + topics + " have no leader yet");
            }
            Thread.sleep(50);
        }
    }
}
