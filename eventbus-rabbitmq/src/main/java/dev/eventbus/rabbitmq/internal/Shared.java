package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.Connection;
import dev.eventbus.rabbitmq.RabbitMqConfig;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executor;
import java.util.concurrent.ScheduledExecutorService;

/**
 * What a transport's subscriptions share: the consumer connection and its topology, the publisher (for retries
 * and dead letters), timers. Thread-safe.
 */
public final class Shared {
    final RabbitMqConfig config;
    final Names names;
    final Connection consumerConnection;
    final Topology topology;
    final Publisher publisher;
    /** Short tasks only (ack flushes). */
    final ScheduledExecutorService timer;
    /** Shard balancing; may block while a shard's handler finishes. */
    final ScheduledExecutorService balancer;
    /** Claims shards side by side (each claim is a few broker round trips); blocking tasks allowed. */
    final Executor claims;
    /** Sends coalesced acknowledgements when traffic pauses, for all consumers at once. */
    final AckFlusher acks;
    private final Map<String, Long> waitQueueDeclared = new ConcurrentHashMap<>();

    public Shared(RabbitMqConfig config, Connection consumerConnection, Topology topology, Publisher publisher,
                  ScheduledExecutorService timer, ScheduledExecutorService balancer, Executor claims) {
        this.config = config;
        this.names = topology.names();
        this.consumerConnection = consumerConnection;
        this.topology = topology;
        this.publisher = publisher;
        this.timer = timer;
        this.balancer = balancer;
        this.acks = new AckFlusher(timer);
        this.claims = claims;
    }

    public Connection consumerConnection() {
        return consumerConnection;
    }

    public Topology topology() {
        return topology;
    }

    /**
     * Declares the wait queue {@code name} (TTL {@code ttlMs}, dead-lettering to {@code exchange}) unless it was
     * declared recently: re-declaring resets its {@code x-expires} clock, so it never expires with messages in it.
     */
    public static void ensureWaitQueue(Topology topology, Map<String, Long> declared, String name, long ttlMs,
                                       String exchange, String routingKey, Runnable afterDeclare) {
        long now = System.nanoTime();
        Long last = declared.get(name);
        long refreshNanos = Duration.ofMillis((Topology.waitQueueExpiry(ttlMs) - ttlMs) / 2).toNanos();
        if (last != null && now - last < refreshNanos) {
            return;
        }
        topology.redeclareQueue(name, topology.waitQueueArgs(ttlMs, exchange, routingKey));
        if (afterDeclare != null) {
            afterDeclare.run();
        }
        declared.put(name, now);
    }

    void ensureRetryQueue(String name, long ttlMs, String exchange, String routingKey) {
        ensureWaitQueue(topology, waitQueueDeclared, name, ttlMs, exchange, routingKey, null);
    }
}
