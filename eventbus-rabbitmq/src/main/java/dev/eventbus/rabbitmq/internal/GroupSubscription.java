package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.Recoverable;
import com.rabbitmq.client.RecoveryListener;
import com.rabbitmq.client.ShutdownListener;
import dev.eventbus.EventBusException;
import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * One group's subscription to one stream on this instance.
 *
 * <p>Without per-key order: a durable work queue bound with the group's types; {@code concurrency} consumers on
 * it (one channel each), competing with the group's other instances.
 *
 * <p>With per-key order: the stream exchange feeds a consistent-hash exchange that spreads keys over
 * {@code shards} queues. Each shard is consumed by exactly one instance at a time, one message after the other;
 * ownership is an exclusive lock queue, and instances rebalance shards among themselves by counting the
 * consumers of a members queue (see the module README).
 *
 * <p>Thread-safe.
 */
public final class GroupSubscription implements TransportSubscription {

    private static final Logger log = LoggerFactory.getLogger(GroupSubscription.class);
    private static final int STACK_LINES = 12;

    private final Shared shared;
    private final SubscriptionRequest request;
    private final MessageHandler handler;
    private final Names names;
    final String stream;
    final String group;
    final boolean ordered;
    final String workQueue;
    final String deadLetterQueue;
    final String shardExchange;
    private final Semaphore permits;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final List<ChannelConsumer> consumers = new CopyOnWriteArrayList<>();
    private final TreeMap<Integer, ChannelConsumer> owned = new TreeMap<>();
    private final Object balanceLock = new Object();
    private final Consumer<GroupSubscription> onClose;
    private volatile Set<String> types;
    private volatile boolean closing;
    private volatile boolean abandoned;
    private ScheduledFuture<?> balancing;
    private Channel membersChannel;
    private ShutdownListener connectionLost;
    private RecoveryListener connectionRecovered;

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
        this.permits = ordered ? new Semaphore(request.concurrency()) : null;
        this.types = request.types();
        this.onClose = onClose;
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

    private void startCompeting() {
        Topology t = shared.topology;
        t.streamExchange(stream);
        t.queue(deadLetterQueue, t.queueArgs(null));
        t.queue(workQueue, t.queueArgs(deadLetterQueue));
        bind(types);
        int n = request.concurrency();
        int prefetch = Math.max(1, (shared.config.prefetch() + n - 1) / n);
        for (int i = 0; i < n; i++) {
            consumers.add(consume(workQueue, -1, prefetch, "eventbus-" + group + "-" + i + "-" + shortId()));
        }
    }

    private void startOrdered() {
        Topology t = shared.topology;
        t.streamExchange(stream);
        t.exchange(shardExchange, "x-consistent-hash", Map.of("hash-header", WireMapping.KEY_HEADER));
        t.queue(deadLetterQueue, t.queueArgs(null));
        for (int i = 0; i < shared.config.shards(); i++) {
            String q = names.shardQueue(stream, group, i);
            t.queue(q, t.queueArgs(deadLetterQueue));
            t.bindQueue(q, shardExchange, "1");
        }
        bind(types);
        String members = names.membersQueue(stream, group);
        t.markerQueue(members);
        try {
            membersChannel = shared.consumerConnection.createChannel();
            membersChannel.basicConsume(members, true, "eventbus-member-" + shortId(), new DefaultConsumer(membersChannel));
        } catch (IOException e) {
            throw new EventBusException("RabbitMQ: cannot join the members of group '" + group + "': "
                    + Connections.describe(e), e, true);
        }
        connectionLost = cause -> {
            if (!cause.isInitiatedByApplication()) {
                synchronized (owned) {
                    owned.values().forEach(c -> {
                        c.lost = true;
                        c.released = true;
                    });
                }
            }
        };
        shared.consumerConnection.addShutdownListener(connectionLost);
        if (shared.consumerConnection instanceof Recoverable r) {
            connectionRecovered = new RecoveryListener() {
                @Override
                public void handleRecovery(Recoverable recoverable) {
                    shared.balancer.execute(GroupSubscription.this::afterRecovery);
                }

                @Override
                public void handleRecoveryStarted(Recoverable recoverable) {
                }
            };
            r.addRecoveryListener(connectionRecovered);
        }
        balance();
        long every = shared.config.rebalanceInterval().toMillis();
        balancing = shared.balancer.scheduleWithFixedDelay(this::balanceQuietly, every, every, TimeUnit.MILLISECONDS);
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
    }

    @Override
    public void updateTypes(Set<String> newTypes) {
        if (closing) {
            throw new IllegalStateException("subscription of group '" + group + "' is closed");
        }
        bind(newTypes);
        this.types = Set.copyOf(newTypes);
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

    private Channel openChannel() throws IOException {
        Channel ch = shared.consumerConnection.createChannel();
        if (ch == null) {
            throw new IOException("no channel left on the consumer connection (channel-max reached)");
        }
        return ch;
    }

    private ChannelConsumer consumeOn(Channel ch, String queue, int shard, int prefetch, String tag) {
        try {
            ch.basicQos(prefetch);
            ChannelConsumer c = new ChannelConsumer(ch, this, queue, shard, prefetch, shared.acks);
            ch.basicConsume(queue, false, tag, c);
            return c;
        } catch (IOException | RuntimeException e) {
            closeQuietly(ch);
            throw new EventBusException("RabbitMQ: cannot consume from queue '" + queue + "': "
                    + Connections.describe(e), e, true);
        }
    }

    // ------------------------------------------------------------------ delivery

    void deliver(ChannelConsumer consumer, Envelope env, AMQP.BasicProperties props, byte[] body) {
        inFlight.incrementAndGet();
        consumer.inFlight.incrementAndGet();
        try {
            if (closing || consumer.released) {
                return;
            }
            TransportMessage message = WireMapping.message(stream, props, body);
            int attempt = WireMapping.attempt(props, env.isRedeliver());
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
                outcome = handler.handle(new Delivery(message, attempt, origin));
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
            settle(consumer, env, props, body, message, attempt, origin, outcome);
        } finally {
            consumer.inFlight.decrementAndGet();
            inFlight.decrementAndGet();
        }
    }

    private void settle(ChannelConsumer consumer, Envelope env, AMQP.BasicProperties props, byte[] body,
                        TransportMessage message, int attempt, String origin, Outcome outcome) {
        long tag = env.getDeliveryTag();
        if (outcome == null) {
            consumer.nack(tag);
            return;
        }
        switch (outcome.kind()) {
            case ACK:
                consumer.ack(tag);
                return;
            case RETRY:
                if (awaitPublish(retry(env, props, body, attempt, outcome), "retry")) {
                    consumer.ack(tag);
                } else {
                    consumer.nack(tag);
                }
                return;
            case DEAD:
            default:
                if (awaitPublish(dead(env, props, body, message, attempt, origin, outcome), "dead-letter")) {
                    consumer.ack(tag);
                } else {
                    consumer.nack(tag);
                }
        }
    }

    private boolean awaitPublish(CompletableFuture<Void> f, String what) {
        try {
            f.get(shared.config.publishTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
            return true;
        } catch (ExecutionException | TimeoutException | RuntimeException e) {
            log.warn("group '{}' on '{}': could not {} a message ({}); it stays unacknowledged and is redelivered",
                    group, stream, what, e instanceof ExecutionException ? e.getCause().getMessage() : e.toString());
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private String originalRoutingKey(Envelope env, AMQP.BasicProperties props) {
        Map<String, Object> h = props.getHeaders();
        String k = h == null ? null : WireMapping.text(h.get(WireMapping.ROUTING_KEY_HEADER));
        return k != null ? k : env.getRoutingKey();
    }

    private CompletableFuture<Void> retry(Envelope env, AMQP.BasicProperties props, byte[] body, int attempt,
                                          Outcome outcome) {
        String routingKey = originalRoutingKey(env, props);
        AMQP.BasicProperties next = WireMapping.republish(props, outcome.headers(), attempt + 1, false, routingKey);
        try {
            if (outcome.delay().isZero()) {
                return ordered ? shared.publisher.publish(shardExchange, routingKey, true, next, body)
                        : shared.publisher.publish("", workQueue, true, next, body);
            }
            long ms = Names.bucketMillis(outcome.delay());
            String wait = names.retryQueue(stream, group, ms);
            if (ordered) {
                // Dead-lettered with its own routing key into the shard exchange, which hashes the key header.
                shared.ensureRetryQueue(wait, ms, shardExchange, null);
            } else {
                shared.ensureRetryQueue(wait, ms, "", workQueue);
            }
            return shared.publisher.publish("", wait, true, next, body);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private CompletableFuture<Void> dead(Envelope env, AMQP.BasicProperties props, byte[] body,
                                         TransportMessage message, int attempt, String origin, Outcome outcome) {
        Map<String, String> h = new LinkedHashMap<>(outcome.headers());
        String now = Instant.now().toString();
        h.putIfAbsent(MessageHeaders.DLQ_REASON, outcome.reason());
        Throwable cause = outcome.cause();
        if (cause != null) {
            h.putIfAbsent(MessageHeaders.DLQ_EXCEPTION, cause.getClass().getName());
            h.putIfAbsent(MessageHeaders.DLQ_MESSAGE, String.valueOf(cause.getMessage()));
            h.putIfAbsent(MessageHeaders.DLQ_STACK, stack(cause));
        }
        h.putIfAbsent(MessageHeaders.ATTEMPTS, Integer.toString(attempt));
        String firstFailure = message.header(MessageHeaders.FIRST_FAILURE);
        h.putIfAbsent(MessageHeaders.FIRST_FAILURE, firstFailure != null ? firstFailure : now);
        h.put(MessageHeaders.DLQ_GROUP, group);
        h.put(MessageHeaders.DLQ_ORIGINAL_STREAM, stream);
        h.put(MessageHeaders.DLQ_ORIGIN, origin);
        h.put(MessageHeaders.DLQ_TIME, now);
        h.put(WireMapping.DLQ_ROUTING_KEY, originalRoutingKey(env, props));
        AMQP.BasicProperties next = WireMapping.republish(props, h, null, false, null);
        return shared.publisher.publish("", deadLetterQueue, true, next, body);
    }

    static String stack(Throwable t) {
        StringWriter sw = new StringWriter();
        t.printStackTrace(new PrintWriter(sw));
        String[] lines = sw.toString().split("\\R");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(STACK_LINES, lines.length); i++) {
            sb.append(i == 0 ? "" : "\n").append(lines[i]);
        }
        if (lines.length > STACK_LINES) {
            sb.append("\n\t... ").append(lines.length - STACK_LINES).append(" more");
        }
        return sb.length() > 4000 ? sb.substring(0, 4000) : sb.toString();
    }

    void consumerCancelled(ChannelConsumer c) {
        if (ordered && c.shard >= 0) {
            synchronized (owned) {
                owned.remove(c.shard, c);
            }
        }
    }

    // ------------------------------------------------------------------ shard balancing

    private void balanceQuietly() {
        if (!shared.consumerConnection.isOpen()) {
            return; // recovering: the recovery listener rebalances once the connection is back
        }
        try {
            balance();
        } catch (RuntimeException e) {
            log.warn("group '{}' on '{}': shard rebalancing failed this round: {}", group, stream, e.getMessage());
        }
    }

    /** Releases shards above this instance's fair share and claims free ones below it. */
    private void balance() {
        synchronized (balanceLock) {
            if (closing) {
                return;
            }
            int n = shared.config.shards();
            int members = Math.max(1, consumerCount(names.membersQueue(stream, group)));
            int ceil = (n + members - 1) / members;
            List<Map.Entry<Integer, ChannelConsumer>> mine;
            synchronized (owned) {
                owned.values().removeIf(c -> c.released && !c.getChannel().isOpen());
                mine = new ArrayList<>(owned.entrySet());
            }
            if (mine.size() > ceil) {
                for (int i = mine.size() - 1; i >= ceil; i--) {
                    release(mine.get(i).getKey(), mine.get(i).getValue());
                }
                return;
            }
            int have = mine.size();
            int start = Math.floorMod(System.identityHashCode(this), n);
            List<Integer> free = new ArrayList<>();
            synchronized (owned) {
                for (int k = 0; k < n; k++) {
                    int shard = (start + k) % n;
                    if (!owned.containsKey(shard)) {
                        free.add(shard);
                    }
                }
            }
            // Claim in waves of exactly the shards still missing, side by side: one after the other, eight claims
            // of a few round trips each held the first shards' consumers alone for ~170 ms at start.
            int next = 0;
            while (have < ceil && next < free.size() && !closing) {
                int wave = Math.min(ceil - have, free.size() - next);
                have += claimAll(free.subList(next, next + wave));
                next += wave;
            }
        }
    }

    /** Claims {@code shards} side by side; returns how many were taken. */
    private int claimAll(List<Integer> shards) {
        if (shards.size() == 1) {
            return claim(shards.get(0)) ? 1 : 0;
        }
        List<CompletableFuture<Boolean>> claims = new ArrayList<>(shards.size());
        for (int shard : shards) {
            claims.add(CompletableFuture.supplyAsync(() -> claim(shard), shared.claims));
        }
        int taken = 0;
        RuntimeException failure = null;
        for (CompletableFuture<Boolean> f : claims) {
            try {
                if (f.join()) {
                    taken++;
                }
            } catch (java.util.concurrent.CompletionException e) {
                RuntimeException cause = e.getCause() instanceof RuntimeException r ? r : e;
                if (failure == null) {
                    failure = cause;
                } else {
                    failure.addSuppressed(cause);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
        return taken;
    }

    private int consumerCount(String queue) {
        return shared.topology.admin("inspect queue '" + queue + "'", ch -> ch.queueDeclarePassive(queue).getConsumerCount());
    }

    /**
     * Takes shard {@code shard} unless another instance holds it: on a fresh channel, checks that nobody consumes
     * the shard queue, takes its lock queue (exclusive: only one connection can hold it) and consumes on the same
     * channel. A refused lock closes that channel, which is then simply dropped.
     */
    private boolean claim(int shard) {
        String queue = names.shardQueue(stream, group, shard);
        String lock = names.shardLock(stream, group, shard);
        Channel ch = null;
        try {
            ch = openChannel();
            if (ch.queueDeclarePassive(queue).getConsumerCount() > 0) {
                closeQuietly(ch);
                return false;
            }
            ch.queueDeclare(lock, false, true, true, Map.of("x-queue-type", "classic"));
        } catch (IOException | RuntimeException e) {
            if (Connections.replyCode(e) != 405) {
                log.debug("claiming shard {} of group '{}': {}", shard, group, Connections.describe(e));
            }
            closeQuietly(ch);
            return false; // another instance holds it
        }
        int prefetch = Math.max(1, (shared.config.prefetch() + shared.config.shards() - 1) / shared.config.shards());
        try {
            ChannelConsumer c = consumeOn(ch, queue, shard, prefetch,
                    Connections.SHARD_TAG_PREFIX + group + "-" + shard + "-" + shortId());
            synchronized (owned) {
                owned.put(shard, c);
            }
            log.debug("group '{}' on '{}': took shard {}", group, stream, shard);
            return true;
        } catch (RuntimeException e) {
            deleteLock(shard);
            throw e;
        }
    }

    /** Hands a shard back: no new deliveries, the running one finishes and is acknowledged, then the lock goes. */
    private void release(int shard, ChannelConsumer c) {
        c.cancel();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (c.inFlight.get() > 0 && System.nanoTime() - deadline < 0) {
            sleep(2);
        }
        c.closeChannel();
        synchronized (owned) {
            owned.remove(shard, c);
        }
        deleteLock(shard);
        log.debug("group '{}' on '{}': released shard {}", group, stream, shard);
    }

    private void deleteLock(int shard) {
        String lock = names.shardLock(stream, group, shard);
        try {
            shared.topology.admin("delete lock '" + lock + "'", ch -> ch.queueDelete(lock));
        } catch (RuntimeException e) {
            log.debug("deleting shard lock {}: {}", lock, e.getMessage());
        }
    }

    /** After a connection recovery: the locks died with the old connection, so claim afresh. */
    private void afterRecovery() {
        synchronized (balanceLock) {
            List<ChannelConsumer> lost;
            synchronized (owned) {
                lost = new ArrayList<>(owned.values());
                owned.clear();
            }
            for (ChannelConsumer c : lost) {
                c.lost = true;
                c.released = true;
                closeQuietly(c.getChannel());
            }
        }
        balanceQuietly();
    }

    /**
     * For per-key ordered groups: waits until this instance owns its fair share of shards (at least
     * {@code floor(shards/members)}, at most {@code ceil}); returns at once otherwise.
     */
    public boolean awaitBalanced(Duration timeout) {
        if (!ordered) {
            return true;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() - deadline < 0) {
            int n = shared.config.shards();
            int members = Math.max(1, consumerCount(names.membersQueue(stream, group)));
            int have;
            synchronized (owned) {
                have = owned.size();
            }
            if (have >= n / members && have <= (n + members - 1) / members) {
                return true;
            }
            sleep(20);
        }
        return false;
    }

    /** Shards this instance consumes now (per-key ordered groups). */
    public Set<Integer> ownedShards() {
        synchronized (owned) {
            return Set.copyOf(owned.keySet());
        }
    }

    // ------------------------------------------------------------------ close

    @Override
    public void close(Duration timeout) {
        if (closing) {
            return;
        }
        closing = true;
        long deadline = System.nanoTime() + timeout.toNanos();
        if (balancing != null) {
            balancing.cancel(false);
        }
        List<ChannelConsumer> all = new ArrayList<>(consumers);
        synchronized (balanceLock) { // a balancing round in progress finishes first, so no shard is claimed behind our back
            synchronized (owned) {
                all.addAll(owned.values());
            }
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
        if (ordered) {
            synchronized (balanceLock) {
                for (ChannelConsumer c : all) {
                    if (c.shard >= 0) {
                        deleteLock(c.shard);
                    }
                }
                synchronized (owned) {
                    owned.clear();
                }
            }
            closeQuietly(membersChannel);
            if (connectionLost != null) {
                shared.consumerConnection.removeShutdownListener(connectionLost);
            }
            if (connectionRecovered != null && shared.consumerConnection instanceof Recoverable r) {
                r.removeRecoveryListener(connectionRecovered);
            }
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

    private static void closeQuietly(Channel ch) {
        if (ch != null && ch.isOpen()) {
            try {
                ch.close();
            } catch (IOException | TimeoutException | RuntimeException e) {
                log.debug("closing channel: {}", e.toString());
            }
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String shortId() {
        return UUID.randomUUID().toString().substring(0, 8);
    }
}
