/**
 * The RabbitMQ transport of eventbus, over the official amqp-client (AMQP 0-9-1), for a stock RabbitMQ 3.10 or later
 * (no plugin needed).
 *
 * <p>Three public types: {@link dev.eventbus.rabbitmq.RabbitMqTransport} (the transport: one topic exchange per
 * stream, one durable queue per consumer group bound to the types it wants, publisher confirms, TTL wait queues for
 * retries and delays, a dead-letter queue per group, per-key order through client-side key shards),
 * {@link dev.eventbus.rabbitmq.RabbitMqConfig} (every {@code eventbus.rabbitmq.*} key as a constant, and a builder)
 * and {@link dev.eventbus.rabbitmq.RabbitMqTransportProvider} ({@code eventbus.transport=rabbitmq} through
 * {@link java.util.ServiceLoader}; declares the keys so the bus refuses unknown ones). The package-private
 * {@code RabbitMqConfigReader} turns a {@link dev.eventbus.spi.TransportContext} into a config.
 *
 * <p>The machinery is in {@link dev.eventbus.rabbitmq.internal}; the module README explains the topology, the
 * CloudEvents mapping and the ordering design.
 */
package dev.eventbus.rabbitmq;
