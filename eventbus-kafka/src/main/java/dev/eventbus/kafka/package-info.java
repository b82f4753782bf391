/**
 * The Kafka transport for eventbus: {@link dev.eventbus.kafka.KafkaTransport} (publish, subscribe, dead letters),
 * {@link dev.eventbus.kafka.KafkaConfig} (the {@code eventbus.kafka.*} keys, the pass-through of Kafka client keys
 * and the builder), {@link dev.eventbus.kafka.KafkaTransportProvider} (selects the transport by the name
 * {@code kafka} through {@link java.util.ServiceLoader}) and {@link dev.eventbus.kafka.KafkaSubscription} (a
 * running subscription of one group).
 *
 * <p>Package-private: {@code ClientProperties}, the producer, consumer and admin client settings made of the
 * transport's defaults and the user's keys. The machinery is in {@code dev.eventbus.kafka.internal}.
 */
package dev.eventbus.kafka;
