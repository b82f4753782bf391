/**
 * The Kafka transport's machinery; not an API, may change in any release.
 *
 * <p>Publishing: {@code CloudEventsBinding} (records to and from the CloudEvents Kafka binding, binary and
 * structured), {@code Topics} (look-up and creation), {@code ClientIds} (unique, readable {@code client.id}s).
 *
 * <p>Consuming, one subscription, read in this order:
 * <ol>
 *   <li>{@code SubscriptionRunner}: the subscription itself, its worker lanes, each record's outcome and close;</li>
 *   <li>{@code PollLoop}: one Kafka consumer and its poll thread: poll, route to lanes, commit, rebalance;</li>
 *   <li>{@code PartitionState} and {@code Work}: offset bookkeeping per partition; {@code FinishedOffsets}: the
 *       offsets decided beyond the commit point, kept in the commit's metadata so a new owner skips them;</li>
 *   <li>{@code RetryTopicRecords} and {@code DeadLetterRecords}: the records a retry and a dead letter write;
 *       {@code DeadLetterTopics}: listing and replaying dead letters;</li>
 *   <li>{@code WorkerSlot}, {@code HeaderMap}, {@code NamedThreads}: small helpers.</li>
 * </ol>
 */
package dev.eventbus.kafka.internal;
