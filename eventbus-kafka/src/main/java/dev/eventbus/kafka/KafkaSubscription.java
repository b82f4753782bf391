package dev.eventbus.kafka;

import dev.eventbus.spi.TransportSubscription;
import org.apache.kafka.common.TopicPartition;

import java.time.Duration;
import java.util.Set;

/**
 * A running subscription of one consumer group to one stream's topic (and the group's retry topic): one Kafka
 * consumer polled by its own thread, handlers on {@code concurrency} worker threads.
 *
 * <p>Partitions arrive asynchronously, through the group's rebalance, after {@link KafkaTransport#subscribe}
 * returns; {@link #awaitAssignment(Duration)} waits for them (useful in tests, or before a readiness probe
 * says "up"). Nothing is lost meanwhile: a new group starts from the earliest offset by default.
 *
 * <p>Thread-safe. Must be closed ({@link #close(Duration)}, or by closing the transport): closing stops
 * polling, waits for running handlers, commits what was decided and leaves the group.
 */
public interface KafkaSubscription extends TransportSubscription {

    /** The consumer group (the Kafka {@code group.id}). */
    String group();

    /** The topic of the subscribed stream. */
    String topic();

    /** The partitions currently assigned to this subscription, main and retry topic; a snapshot. */
    Set<TopicPartition> assignment();

    /**
     * Waits until the group has given this subscription at least one partition of its topic and the starting
     * offsets are known. Blocks up to {@code timeout}.
     *
     * @return true when assigned, false when the timeout passed first (or the subscription closed)
     */
    boolean awaitAssignment(Duration timeout);
}
