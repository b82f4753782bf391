package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Envelope;
import dev.eventbus.ConfigException;
import dev.eventbus.EventBusException;
import dev.eventbus.rabbitmq.RabbitMqConfig;
import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * One group's subscription to one stream on this instance: declares the group's topology, runs the handler for each
 * delivery and hands the outcome to the {@link OutcomeSettler}.
 *
 * <p>Without per-key order: a durable work queue bound with the group's types; {@code concurrency} consumers on
 * it (one channel each), competing with the group's other instances.
 *
 * <p>With per-key order: the stream exchange feeds the group's shard exchange (bound with the group's types, so the
 * broker filters), which spreads keys over {@code shards} queues by the shard route the publisher computed from the
 * key ({@link KeyShards}). Each shard is consumed by exactly one instance at a time, one message after the other;
 * the {@link ShardBalancer} shares the shards between the group's instances.
 *
 * <p>Thread-safe.
 */
public final class GroupSubscription implements TransportSubscription {

    private static final Logger log = LoggerFactory.getLogger(GroupSubscription.class);

    final Shared shared;
    private final SubscriptionRequest request;
    private final MessageHandler handler;
    final Names names;
    final String stream;
    final String group;
    final boolean ordered;
    final String workQueue;
    final String deadLetterQueue;
    final String shardExchange;
    /** The stream's exchange: messages from it arrive on the main path, never from the bus's retry or replay. */
    private final String mainExchange;
    private final Semaphore permits;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final List<ChannelConsumer> consumers = new CopyOnWriteArrayList<>();
    private final Consumer<GroupSubscription> onClose;
    private final OutcomeSettler settler;
    private final ShardBalancer balancer;
    private volatile boolean closing;
    private volatile boolean abandoned;

    GroupSubscription(Shared shared, SubscriptionRequest request, MessageHandler handler,
                      Consumer<GroupSubscription> onClose) {
        this.shared = shared;
        this.request = request;
        this.handler = handler;
        this.names = shared.names;
        this.stream = request.stream();
        this.group = request.group();
        this.ordered = request.orderedByKey();
        this.workQueue = names.workQueue(stream, group);
        this.deadLetterQueue = names.deadLetterQueue(stream, group);
        this.shardExchange = names.shardExchange(stream, group);
        this.mainExchange = names.exchange(stream);
        this.permits = ordered ? new Semaphore(request.concurrency()) : null;
        this.onClose = onClose;
        this.settler = new OutcomeSettler(this);
        this.balancer = ordered ? new ShardBalancer(this) : null;
    }

    /** Declares the group's topology and starts consuming. */
    public static GroupSubscription start(Shared shared, SubscriptionRequest request, MessageHandler handler,
                                          Consumer<GroupSubscription> onClose) {
        GroupSubscription s = new GroupSubscription(shared, request, handler, onClose);
        try {
            if (s.ordered) {
                s.startOrdered();
            } else {
                s.startCompeting();
            }
        } catch (RuntimeException e) {
            s.close(Duration.ofSeconds(1));
            throw e;
        }
        return s;
    }

    /** A batch group's consumers need room for two batches per lane, or batches never fill. */
    int minPrefetch() {
        return Math.max(1, 2 * request.batchSize());
    }

    private void startCompeting() {
        Topology t = shared.topology;
        t.streamExchange(stream);
        t.queue(deadLetterQueue, t.queueArgs(null));
        t.queue(workQueue, t.queueArgs(deadLetterQueue));
        bind(request.types());
        int n = request.concurrency();
        int prefetch = Math.max(minPrefetch(), (shared.config.prefetch() + n - 1) / n);
        for (int i = 0; i < n; i++) {
            consumers.add(consume(workQueue, -1, prefetch, "eventbus-" + group + "-" + i + "-" + shortId()));
        }
    }

    private void startOrdered() {
        Topology t = shared.topology;
        int n = shared.config.shards();
        checkShardCount(n);
        t.streamExchange(stream);
        // Messages without a shard route (a plain client's) go to shard 0 rather than nowhere.
        String unkeyed = names.unkeyedExchange(stream, group);
        t.exchange(unkeyed, "fanout", null);
        t.exchange(shardExchange, "topic", Map.of("alternate-exchange", unkeyed));
        t.queue(deadLetterQueue, t.queueArgs(null));
        for (int i = 0; i < n; i++) {
            String q = names.shardQueue(stream, group, i);
            t.queue(q, t.queueArgs(deadLetterQueue));
            for (String pattern : KeyShards.bindingPatterns(i, n)) {
                t.bindQueue(q, shardExchange, pattern);
            }
        }
        t.bindQueue(names.shardQueue(stream, group, 0), unkeyed, "");
        bind(request.types());
        balancer.start();
    }

    /**
     * A group's shard count cannot change while its shard queues exist: keys would move to other shards (order
     * lost) and the old bindings would still route, so messages would arrive twice. Refused with what to do.
     */
    private void checkShardCount(int n) {
        Topology t = shared.topology;
        if (!t.queueExists(names.shardQueue(stream, group, 0))) {
            return; // a new group
        }
        boolean more = t.queueExists(names.shardQueue(stream, group, n));
        boolean fewer = !t.queueExists(names.shardQueue(stream, group, n - 1));
        if (!more && !fewer) {
            return;
        }
        int existing = 1;
        while (existing < KeyShards.BUCKETS && t.queueExists(names.shardQueue(stream, group, existing))) {
            existing++;
        }
        throw new ConfigException(RabbitMqConfig.SHARDS, "group '" + group + "' on stream '" + stream + "' already has "
                + existing + " shard queues (" + names.shardQueue(stream, group, 0) + " to "
                + names.shardQueue(stream, group, existing - 1) + ") but " + RabbitMqConfig.SHARDS + "=" + n
                + ". The shard count of an existing group cannot change: keys would move between shards and lose "
                + "their order. Keep " + RabbitMqConfig.SHARDS + "=" + existing + ", or subscribe under a new group "
                + "name (it gets every event from then on; let the old group drain, then delete its queues), or delete "
                + "the group's shard queues and its exchange " + shardExchange + " (their messages are lost).", (Throwable) null);
    }

    private void bind(Set<String> wanted) {
        Topology t = shared.topology;
        String exchange = names.exchange(stream);
        List<String> keys = wanted.isEmpty() ? List.of("#") : new ArrayList<>(wanted);
        for (String key : keys) {
            if (ordered) {
                t.bindExchange(shardExchange, exchange, key);
            } else {
                t.bindQueue(workQueue, exchange, key);
            }
        }
        // Types no group is bound to reach every group through the stream's alternate exchange (see Topology).
        t.bindUnrouted(stream, ordered ? shardExchange : workQueue, ordered);
    }

    @Override
    public void updateTypes(Set<String> newTypes) {
        if (closing) {
            throw new IllegalStateException("subscription of group '" + group + "' is closed");
        }
        bind(newTypes);
    }

    private ChannelConsumer consume(String queue, int shard, int prefetch, String tag) {
        Channel ch;
        try {
            ch = openChannel();
        } catch (IOException | RuntimeException e) {
            throw new EventBusException("RabbitMQ: cannot consume from queue '" + queue + "': "
                    + Connections.describe(e), e, true);
        }
        return consumeOn(ch, queue, shard, prefetch, tag);
    }

    Channel openChannel() throws IOException {
        Channel ch = shared.consumerConnection.createChannel();
        if (ch == null) {
            throw new IOException("no channel left on the consumer connection (channel-max reached)");
        }
        return ch;
    }

    ChannelConsumer consumeOn(Channel ch, String queue, int shard, int prefetch, String tag) {
        try {
            ch.basicQos(prefetch);
            ChannelConsumer c = new ChannelConsumer(ch, this, queue, shard, prefetch, shared.acks);
            if (request.deferredOutcomes()) {
                c.settlesOutOfOrder();
            }
            ch.basicConsume(queue, false, tag, c);
            return c;
        } catch (IOException | RuntimeException e) {
            closeQuietly(ch);
            throw new EventBusException("RabbitMQ: cannot consume from queue '" + queue + "': "
                    + Connections.describe(e), e, true);
        }
    }

    boolean closing() {
        return closing;
    }

    // ------------------------------------------------------------------ delivery

    void deliver(ChannelConsumer consumer, Envelope env, AMQP.BasicProperties props, byte[] body) {
        if (request.deferredOutcomes()) {
            deliverDeferred(consumer, env, props, body);
            return;
        }
        inFlight.incrementAndGet();
        consumer.inFlight.incrementAndGet();
        try {
            if (closing || consumer.released) {
                return;
            }
            TransportMessage message = WireMapping.message(stream, props, body);
            int attempt;
            if (mainExchange.equals(env.getExchange())) {
                // Published to the stream: retries (wait queues) and replays reach the queue by other exchanges,
                // so bookkeeping headers and the attempt counter here can only be forged; they are ignored.
                message = message.withoutBookkeeping();
                attempt = env.isRedeliver() ? 2 : 1;
            } else {
                attempt = WireMapping.attempt(props, env.isRedeliver());
            }
            if (request.filter() != null && !request.filter().matches(message)) {
                handler.filteredOut(message); // push-down: no subscriber of the group wants it, and it is not decoded
                consumer.ack(env.getDeliveryTag());
                return;
            }
            String origin = consumer.queue + "#" + env.getDeliveryTag();
            Outcome outcome = null;
            boolean permitted = false;
            try {
                if (permits != null) {
                    permits.acquireUninterruptibly();
                    permitted = true;
                    if (closing || consumer.released) {
                        return;
                    }
                }
                outcome = handler.handle(new Delivery(message, attempt, origin,
                        Map.of(Delivery.RABBITMQ_ROUTING_KEY, env.getRoutingKey())));
                if (outcome == null) {
                    throw new NullPointerException("handler returned a null outcome");
                }
            } catch (Throwable t) {
                log.warn("handler of group '{}' on '{}' threw instead of returning an outcome; the message is redelivered",
                        group, stream, t);
                outcome = null;
            } finally {
                if (permitted) {
                    permits.release();
                }
            }
            if (abandoned || consumer.lost) {
                return; // closed without waiting for us, or shard lost with the connection: the broker redelivers it
            }
            settler.settle(consumer, env, props, body, message, attempt, origin, outcome);
        } finally {
            consumer.inFlight.decrementAndGet();
            inFlight.decrementAndGet();
        }
    }

    /**
     * A batch group's delivery ({@link SubscriptionRequest#deferredOutcomes()}): the handler may decide later, and
     * this channel's thread goes on with the next delivery meanwhile; the message counts as in flight (close waits
     * for it) until its outcome is settled, from whichever thread completes it. Acknowledgements then cover only
     * the settled prefix of the channel's deliveries ({@link ChannelConsumer#settlesOutOfOrder}).
     */
    private void deliverDeferred(ChannelConsumer consumer, Envelope env, AMQP.BasicProperties props, byte[] body) {
        inFlight.incrementAndGet();
        consumer.inFlight.incrementAndGet();
        consumer.delivered(env.getDeliveryTag());
        boolean pending = false;
        try {
            if (closing || consumer.released) {
                return;
            }
            TransportMessage decoded = WireMapping.message(stream, props, body);
            int attempt;
            if (mainExchange.equals(env.getExchange())) {
                decoded = decoded.withoutBookkeeping(); // as in deliver: forged on the main path
                attempt = env.isRedeliver() ? 2 : 1;
            } else {
                attempt = WireMapping.attempt(props, env.isRedeliver());
            }
            TransportMessage message = decoded;
            if (request.filter() != null && !request.filter().matches(message)) {
                handler.filteredOut(message);
                consumer.ack(env.getDeliveryTag());
                return;
            }
            String origin = consumer.queue + "#" + env.getDeliveryTag();
            java.util.concurrent.CompletableFuture<Outcome> f;
            boolean permitted = false;
            try {
                if (permits != null) {
                    permits.acquireUninterruptibly();
                    permitted = true;
                    if (closing || consumer.released) {
                        return;
                    }
                }
                f = handler.handleAsync(new Delivery(message, attempt, origin));
                if (f == null) {
                    throw new NullPointerException("handler returned a null future");
                }
            } catch (Throwable t) {
                f = java.util.concurrent.CompletableFuture.failedFuture(t);
            } finally {
                if (permitted) {
                    permits.release();
                }
            }
            pending = true;
            f.whenComplete((outcome, failure) -> {
                try {
                    if (failure != null) {
                        log.warn("handler of group '{}' on '{}' failed instead of returning an outcome; the message is "
                                + "redelivered", group, stream, failure);
                    }
                    if (abandoned || consumer.lost) {
                        return; // closed without waiting for it: the broker redelivers it
                    }
                    settler.settle(consumer, env, props, body, message, attempt, origin, failure == null ? outcome : null);
                } finally {
                    consumer.inFlight.decrementAndGet();
                    inFlight.decrementAndGet();
                }
            });
        } finally {
            if (!pending) {
                consumer.inFlight.decrementAndGet();
                inFlight.decrementAndGet();
            }
        }
    }

    void consumerCancelled(ChannelConsumer c) {
        if (balancer != null && c.shard >= 0) {
            balancer.consumerCancelled(c);
        }
    }

    /**
     * For per-key ordered groups: waits until this instance owns its fair share of shards (at least
     * {@code floor(shards/members)}, at most {@code ceil}); returns at once otherwise.
     */
    public boolean awaitBalanced(Duration timeout) {
        return balancer == null || balancer.awaitBalanced(timeout);
    }

    /** Shards this instance consumes now (per-key ordered groups). */
    public Set<Integer> ownedShards() {
        return balancer == null ? Set.of() : balancer.ownedShards();
    }

    // ------------------------------------------------------------------ close

    @Override
    public void close(Duration timeout) {
        if (closing) {
            return;
        }
        closing = true;
        long deadline = System.nanoTime() + timeout.toNanos();
        List<ChannelConsumer> all = new ArrayList<>(consumers);
        if (balancer != null) {
            all.addAll(balancer.stop()); // a balancing round in progress finishes first
        }
        for (ChannelConsumer c : all) {
            c.cancel();
        }
        while (inFlight.get() > 0 && System.nanoTime() - deadline < 0) {
            sleep(2);
        }
        if (inFlight.get() > 0) {
            abandoned = true;
            log.warn("subscription of group '{}' on '{}' closed with {} handler(s) still running; their messages "
                    + "stay unacknowledged and will be redelivered", group, stream, inFlight.get());
        }
        for (ChannelConsumer c : all) {
            c.closeChannel();
        }
        if (balancer != null) {
            balancer.releaseAll(all);
        }
        onClose.accept(this);
    }

    /** The group's dead-letter queue and where replays go. */
    public Map<String, String> describe() {
        Map<String, String> m = new HashMap<>();
        m.put("dlq", deadLetterQueue);
        m.put("target", ordered ? shardExchange : workQueue);
        return m;
    }

    static void closeQuietly(Channel ch) {
        if (ch != null && ch.isOpen()) {
            try {
                ch.close();
            } catch (IOException | TimeoutException | RuntimeException e) {
                log.debug("closing channel: {}", e.toString());
            }
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String shortId() {
        return UUID.randomUUID().toString().substring(0, 8);
    }
}
