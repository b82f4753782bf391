package dev.eventbus.kafka.internal;

import dev.eventbus.EventBusException;
import dev.eventbus.kafka.KafkaConfig;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

import java.util.ArrayList;
import java.util.Collection;
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
 * {@code create-topics} allows it, or fails naming them. Known topics are remembered, so the check costs one map
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
        try {
            Map<String, KafkaFuture<org.apache.kafka.clients.admin.TopicDescription>> found =
                    admin.describeTopics(unknown).topicNameValues();
            for (String t : unknown) {
                try {
                    found.get(t).get(timeoutMs, TimeUnit.MILLISECONDS);
                    known.add(t);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                        missing.add(t);
                    } else {
                        throw e;
                    }
                }
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
            awaitLeaders(missing, timeoutMs);
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
     * Waits until every partition of freshly created topics has a leader. Producing into a partition whose first
     * leader election is still settling was seen to leave the idempotent producer retrying forever with
     * OUT_OF_ORDER_SEQUENCE_NUMBER (the broker had appended the batch its NOT_LEADER answer made us resend).
     */
    private void awaitLeaders(List<String> topics, long timeoutMs)
            throws ExecutionException, InterruptedException, TimeoutException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (true) {
            boolean ready = true;
            Map<String, org.apache.kafka.clients.admin.TopicDescription> described;
            try {
                described = admin.describeTopics(topics).allTopicNames().get(timeoutMs, TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                    throw e;
                }
                described = Map.of(); // created but not yet in the metadata the broker answers from
                ready = false;
            }
            for (org.apache.kafka.clients.admin.TopicDescription d : described.values()) {
                for (org.apache.kafka.common.TopicPartitionInfo p : d.partitions()) {
                    if (p.leader() == null || p.leader().isEmpty() || p.isr().isEmpty()) {
                        ready = false;
                    }
                }
            }
            if (ready) {
                return;
            }
            if (System.nanoTime() - deadline > 0) {
                throw new TimeoutException("partitions of " + topics + " have no leader yet");
            }
            Thread.sleep(50);
        }
    }
}
