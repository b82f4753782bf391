package dev.eventbus.rabbitmq;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import dev.eventbus.EventBusException;
import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayNotSupportedException;
import dev.eventbus.ReplayResult;
import dev.eventbus.rabbitmq.internal.Connections;
import dev.eventbus.rabbitmq.internal.DeadLetterQueues;
import dev.eventbus.rabbitmq.internal.GroupSubscription;
import dev.eventbus.rabbitmq.internal.Names;
import dev.eventbus.rabbitmq.internal.Publisher;
import dev.eventbus.rabbitmq.internal.Shared;
import dev.eventbus.rabbitmq.internal.Topology;
import dev.eventbus.rabbitmq.internal.WireMapping;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Carries events over RabbitMQ (AMQP 0-9-1) with amqp-client: one durable topic exchange per stream (routing key =
 * event type), one durable queue per consumer group bound to exactly the types it subscribes to, publisher
 * confirms, TTL wait queues for delayed retries and delayed delivery, a dead-letter queue per group, and
 * automatic connection and topology recovery; per-key order through shard queues fed by the key's shard route,
 * which the publisher computes, so a stock broker without plugins is enough. The module README describes the
 * topology, the CloudEvents header mapping and the ordering choices.
 *
 * <p><b>Connections.</b> Two connections named after the bus's service: one for publishing (opened at
 * {@link #create}), one for consuming (opened with the first subscription), so broker flow control on publishers
 * never stalls acknowledgements.
 *
 * <p><b>Blocking.</b> {@link #send} does not wait for the broker: its future completes on the confirm. It may
 * block while the confirm window is full and, the first time a stream or delay is used, while the exchange or wait
 * queue is declared, each at most {@link RabbitMqConfig#PUBLISH_MAX_BLOCK} (then the future fails instead). During a
 * broker outage publishes wait in the client, not on the caller's thread, until recovery or
 * {@link RabbitMqConfig#PUBLISH_TIMEOUT}. {@link #subscribe} blocks while it declares topology. Futures complete on
 * the client's I/O thread: do not block in their callbacks.
 *
 * <p><b>Lifecycle.</b> Created connected by {@link #create}; {@link #close(Duration)} stops the subscriptions
 * (finishing and acknowledging handlers in flight within the timeout), waits for outstanding confirms and
 * closes the connections. It must be called.
 *
 * <p><b>Exceptions.</b> {@link #create} throws {@link dev.eventbus.ConfigException} for bad settings and a
 * retriable {@link EventBusException} naming {@link RabbitMqConfig#URI} when the broker is unreachable (within
 * {@link RabbitMqConfig#CONNECTION_TIMEOUT}, leaving no thread behind); {@link #subscribe} throws
 * {@link EventBusException} when the broker refuses the topology (with the argument that differs and how to fix
 * it), and {@link dev.eventbus.ConfigException} naming {@link RabbitMqConfig#SHARDS} when a per-key ordered group
 * exists with another shard count. Failed publishes complete their future with an {@link EventBusException}; {@link EventBusException#isRetriable()}
 * tells a lost connection or timeout from a refusal.
 *
 * <p>Thread-safe: every method may be called from any thread.
 */
public final class RabbitMqTransport implements Transport, dev.eventbus.spi.HealthCheck {

    private static final Logger log = LoggerFactory.getLogger(RabbitMqTransport.class);

    private final RabbitMqConfig config;
    private final ConnectionFactory factory;
    private final ConnectionFactory consumeFactory;
    private final Names names;
    private final Connection publishConnection;
    private final Topology publishTopology;
    private final Publisher publisher;
    private final ScheduledExecutorService timer;
    private final ScheduledExecutorService balancer;
    private final ExecutorService consumerThreads;
    private final Set<Capability> capabilities;
    private final Map<String, String> exchangeOfStream = new ConcurrentHashMap<>();
    private final Map<String, Long> delayQueues = new ConcurrentHashMap<>();
    private final List<GroupSubscription> subscriptions = new CopyOnWriteArrayList<>();
    private final Map<String, DeadLetterQueues.GroupInfo> knownGroups = new ConcurrentHashMap<>();
    private final Object consumerLock = new Object();
    private volatile Shared shared;
    private volatile boolean closed;

    private RabbitMqTransport(RabbitMqConfig config) {
        this.config = config;
        // Publishing declares on the caller's thread: bounded by publish-max-block. Consuming may wait longer (quorum
        // queue declarations on a busy broker), but not amqp-client's ten minutes.
        this.factory = Connections.factory(config, config.publishMaxBlock());
        this.consumeFactory = Connections.factory(config,
                Duration.ofMillis(Math.max(30_000, 3 * config.connectionTimeout().toMillis())));
        this.names = new Names(config.prefix());
        this.timer = scheduler("eventbus-rabbitmq-timer");
        this.balancer = scheduler("eventbus-rabbitmq-balancer");
        this.consumerThreads = Executors.newCachedThreadPool(threads("eventbus-rabbitmq-consumer"));
        try {
            this.publishConnection = Connections.open(factory, config, null, config.serviceName() + " (publish)");
        } catch (RuntimeException e) {
            timer.shutdownNow();
            balancer.shutdownNow();
            consumerThreads.shutdownNow();
            throw e;
        }
        this.publishTopology = new Topology(publishConnection, config);
        this.publisher = new Publisher(publishConnection, config.confirmWindow(), config.publishTimeout(),
                config.publishMaxBlock(), timer,
                reason -> {
                    // A channel error (e.g. an exchange deleted behind our back): declare again on next use.
                    publishTopology.forget();
                    exchangeOfStream.clear();
                    delayQueues.clear();
                });
        EnumSet<Capability> caps = EnumSet.of(Capability.DURABLE, Capability.COMPETING_CONSUMERS,
                Capability.DELAYED_DELIVERY, Capability.DEAD_LETTER_STORE, Capability.REDELIVERY_AFTER_CRASH);
        if (config.keyOrder()) {
            caps.add(Capability.PER_KEY_ORDER);
        }
        if (config.maxPriority() > 0) {
            caps.add(Capability.PRIORITY);
        }
        this.capabilities = Collections.unmodifiableSet(caps);
    }

    /**
     * Connects to the broker described by {@code config}.
     *
     * @throws EventBusException (retriable) when the broker cannot be reached, saying where and how to start one
     */
    public static RabbitMqTransport create(RabbitMqConfig config) {
        return new RabbitMqTransport(Objects.requireNonNull(config, "config"));
    }

    /** The settings this transport runs with. */
    public RabbitMqConfig config() {
        return config;
    }

    @Override
    public String name() {
        return RabbitMqTransportProvider.NAME;
    }

    /**
     * {@code DURABLE, COMPETING_CONSUMERS, DELAYED_DELIVERY, DEAD_LETTER_STORE, REDELIVERY_AFTER_CRASH}, plus
     * {@code PER_KEY_ORDER} unless {@link RabbitMqConfig#KEY_ORDER} is off and {@code PRIORITY} when
     * {@link RabbitMqConfig#MAX_PRIORITY} is set.
     */
    @Override
    public Set<Capability> capabilities() {
        return capabilities;
    }

    /**
     * Always refuses, without touching the broker: a RabbitMQ queue deletes a message once its consumer acknowledges
     * it, so there is no consumed history to move a group back to.
     *
     * @throws ReplayNotSupportedException always, saying what to use instead
     */
    @Override
    public ReplayResult replay(String group, String stream, ReplayFrom from) {
        throw new ReplayNotSupportedException(name(), "RabbitMQ queues delete a message once it is acknowledged, so"
                + " group '" + group + "' cannot be moved back on '" + stream + "'. Instead: replay what failed with"
                + " bus.deadLetters().replay(...) (the group's dead-letter queue); route streams whose history must be"
                + " handled again to the kafka or jdbc transport (eventbus.route.stream." + stream + "=jdbc), which"
                + " replay; or keep the events in an EventStore and rebuild() the projection");
    }

    @Override
    public CompletableFuture<Void> send(TransportMessage message) {
        Objects.requireNonNull(message, "message");
        if (closed) {
            return CompletableFuture.failedFuture(new EventBusException("the RabbitMQ transport is closed", null, false));
        }
        String type = message.type();
        if (type == null) {
            return CompletableFuture.failedFuture(new IllegalArgumentException(
                    "message has no 'type' header; the RabbitMQ transport routes by event type: " + message));
        }
        try {
            String exchange = exchangeOfStream.get(message.stream());
            if (exchange == null) {
                exchange = names.exchange(message.stream());
                publishTopology.streamExchange(message.stream());
                exchangeOfStream.put(message.stream(), exchange);
            }
            Instant at = message.deliverAt();
            if (at != null) {
                long delayMs = Duration.between(Instant.now(), at).toMillis();
                if (delayMs > 0) {
                    return sendDelayed(message, type, Names.bucketMillis(Duration.ofMillis(delayMs)));
                }
            }
            AMQP.BasicProperties props = WireMapping.properties(message, null, WireMapping.BCC);
            return publisher.publish(exchange, type, config.mandatory(), props, message.body());
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** Through a TTL delay queue that dead-letters into the stream exchange with the original routing key. */
    private CompletableFuture<Void> sendDelayed(TransportMessage message, String type, long ms) {
        String delayExchange = names.delayExchange(message.stream());
        String queue = names.delayQueue(message.stream(), ms);
        publishTopology.exchange(delayExchange, "headers", null);
        Shared.ensureWaitQueue(publishTopology, delayQueues, queue, ms, names.exchange(message.stream()), null,
                () -> publishTopology.bindQueue(queue, delayExchange, "",
                        Map.of("x-match", "all", WireMapping.DELAY_HEADER, Long.toString(ms))));
        // CC, not BCC: the shard route must survive the delay queue's dead-lettering into the stream exchange.
        AMQP.BasicProperties props = WireMapping.properties(message, Map.of(WireMapping.DELAY_HEADER, Long.toString(ms)),
                WireMapping.CC);
        return publisher.publish(delayExchange, type, true, props, message.body());
    }

    @Override
    public TransportSubscription subscribe(SubscriptionRequest request, MessageHandler handler) {
        Objects.requireNonNull(request, "request");
        Objects.requireNonNull(handler, "handler");
        if (closed) {
            throw new IllegalStateException("the RabbitMQ transport is closed");
        }
        if (request.orderedByKey() && !config.keyOrder()) {
            request = new SubscriptionRequest(request.group(), request.stream(), request.types(),
                    request.concurrency(), false);
        }
        Shared s = shared();
        GroupSubscription sub = GroupSubscription.start(s, request, handler, subscriptions::remove);
        subscriptions.add(sub);
        Map<String, String> d = sub.describe();
        boolean ordered = request.orderedByKey();
        knownGroups.put(request.stream() + "\u0000" + request.group(), new DeadLetterQueues.GroupInfo(
                request.stream(), request.group(), d.get("dlq"), ordered ? d.get("target") : "",
                ordered ? null : d.get("target"), ordered));
        return sub;
    }

    private Shared shared() {
        Shared s = shared;
        if (s != null) {
            return s;
        }
        synchronized (consumerLock) {
            if (shared == null) {
                Connection c = Connections.open(consumeFactory, config, consumerThreads, config.serviceName() + " (consume)");
                shared = new Shared(config, c, new Topology(c, config), publisher, timer, balancer, consumerThreads);
            }
            return shared;
        }
    }

    @Override
    public DeadLetterStore deadLetters() {
        return new DeadLetterQueues(shared().consumerConnection(), publisher,
                () -> new ArrayList<>(knownGroups.values()), config.publishTimeout().toMillis() + 1000);
    }

    @Override
    public void close(Duration timeout) {
        if (closed) {
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + timeout.toNanos();
        for (GroupSubscription s : new ArrayList<>(subscriptions)) {
            s.close(remaining(deadline));
        }
        publisher.close(remaining(deadline));
        Shared s = shared;
        if (s != null) {
            closeConnection(s.consumerConnection(), deadline);
        }
        closeConnection(publishConnection, deadline);
        timer.shutdownNow();
        balancer.shutdownNow();
        consumerThreads.shutdown();
    }

    private static void closeConnection(Connection c, long deadline) {
        try {
            if (c.isOpen()) {
                c.close((int) Math.max(1000, remaining(deadline).toMillis()));
            }
        } catch (IOException | RuntimeException e) {
            log.debug("closing RabbitMQ connection: {}", e.toString());
        }
    }

    private static Duration remaining(long deadline) {
        return Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
    }

    /** Every exchange and queue this transport declared (for tests that clean up after themselves). */
    Set<String> declaredQueues() {
        Set<String> all = new HashSet<>(publishTopology.declaredQueues());
        Shared s = shared;
        if (s != null) {
            all.addAll(s.topology().declaredQueues());
        }
        return all;
    }

    Set<String> declaredExchanges() {
        Set<String> all = new HashSet<>(publishTopology.declaredExchanges());
        Shared s = shared;
        if (s != null) {
            all.addAll(s.topology().declaredExchanges());
        }
        return all;
    }

    private static ScheduledExecutorService scheduler(String name) {
        ScheduledThreadPoolExecutor e = new ScheduledThreadPoolExecutor(1, threads(name));
        e.setRemoveOnCancelPolicy(true);
        return e;
    }

    private static ThreadFactory threads(String prefix) {
        AtomicInteger n = new AtomicInteger();
        return r -> {
            Thread t = new Thread(r, prefix + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
    }

    @Override
    public String toString() {
        return "RabbitMqTransport{" + config.describeBroker() + ", service=" + config.serviceName() + '}';
    }

    /**
     * Up while the publishing connection (and the consuming one, once opened) is open; during automatic recovery
     * after a broker outage it is down. Does no I/O; never throws.
     */
    @Override
    public dev.eventbus.spi.HealthCheck.Result check(Duration timeout) {
        Map<String, Object> details = Map.of("broker", config.describeBroker());
        if (closed) {
            return dev.eventbus.spi.HealthCheck.Result.down("transport closed", details);
        }
        Shared s = shared;
        if (!publishConnection.isOpen()) {
            return dev.eventbus.spi.HealthCheck.Result.down("publishing connection is closed (recovering)", details);
        }
        if (s != null && !s.consumerConnection().isOpen()) {
            return dev.eventbus.spi.HealthCheck.Result.down("consuming connection is closed (recovering)", details);
        }
        return dev.eventbus.spi.HealthCheck.Result.up(details);
    }
}
