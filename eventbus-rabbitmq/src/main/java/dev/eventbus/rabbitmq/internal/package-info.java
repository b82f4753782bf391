/**
 * How the RabbitMQ transport works; not API. Follow one event through the files in this order:
 *
 * <ol>
 *   <li><b>Connecting:</b> {@link dev.eventbus.rabbitmq.internal.AmqpUri} (the URI's parts),
 *       {@link dev.eventbus.rabbitmq.internal.Connections} (factory with recovery and bounded broker calls, errors
 *       as sentences naming the key).</li>
 *   <li><b>Naming and declaring:</b> {@link dev.eventbus.rabbitmq.internal.Names} (every exchange and queue name),
 *       {@link dev.eventbus.rabbitmq.internal.Topology} (idempotent declarations; argument mismatches explained).</li>
 *   <li><b>Publishing:</b> {@link dev.eventbus.rabbitmq.internal.WireMapping} (CloudEvents to AMQP properties and
 *       headers and back), {@link dev.eventbus.rabbitmq.internal.KeyShards} (the key's shard route and the binding
 *       patterns of shard queues), {@link dev.eventbus.rabbitmq.internal.Publisher} (confirm window, resend after
 *       recovery, timeouts).</li>
 *   <li><b>Consuming:</b> {@link dev.eventbus.rabbitmq.internal.GroupSubscription} (one group on one stream: its
 *       topology, the handler call), {@code ChannelConsumer} (one consumer on its
 *       channel, coalesced acknowledgements), {@code AckFlusher} (sends what a batch left), {@code OutcomeSettler}
 *       (ACK, RETRY through wait queues, DEAD to the dead-letter queue), {@code ShardBalancer} (shares a per-key
 *       ordered group's shards between its instances with lock queues).</li>
 *   <li><b>Dead letters:</b> {@link dev.eventbus.rabbitmq.internal.DeadLetterQueues} (list and replay).</li>
 * </ol>
 *
 * <p>{@link dev.eventbus.rabbitmq.internal.Shared} holds what a transport's subscriptions share (consumer connection,
 * publisher, timers).
 */
package dev.eventbus.rabbitmq.internal;
