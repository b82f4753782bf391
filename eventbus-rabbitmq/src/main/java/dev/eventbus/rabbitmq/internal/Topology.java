package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.BuiltinExchangeType;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import dev.eventbus.ConfigException;
import dev.eventbus.EventBusException;
import dev.eventbus.rabbitmq.RabbitMqConfig;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Declares exchanges, queues and bindings idempotently on one connection (so automatic topology recovery
 * re-declares them) and remembers what it declared. A declaration the broker refuses because the object exists
 * with other arguments fails with a message naming the argument and the setting behind it.
 *
 * <p>Thread-safe: declarations are serialized on one admin channel, reopened after a channel error.
 */
public final class Topology {

    private static final Pattern INEQUIVALENT = Pattern.compile("inequivalent arg '([^']+)'");

    private final Connection connection;
    private final RabbitMqConfig config;
    private final Names names;
    private final Object lock = new Object();
    private final Set<String> done = ConcurrentHashMap.newKeySet();
    private final Set<String> queues = ConcurrentHashMap.newKeySet();
    private final Set<String> exchanges = ConcurrentHashMap.newKeySet();
    private Channel admin;

    public Topology(Connection connection, RabbitMqConfig config) {
        this.connection = connection;
        this.config = config;
        this.names = new Names(config.prefix());
    }

    public Names names() {
        return names;
    }

    /** Every queue name declared through this object (for tests that clean up after themselves). */
    public Set<String> declaredQueues() {
        return Set.copyOf(queues);
    }

    /** Every exchange name declared through this object. */
    public Set<String> declaredExchanges() {
        return Set.copyOf(exchanges);
    }

    /** Forgets cached declarations so the next use declares again (after the broker may have lost them). */
    public void forget() {
        done.clear();
    }

    @FunctionalInterface
    public interface ChannelCall<T> {
        T call(Channel channel) throws IOException;
    }

    /** Runs {@code call} on the admin channel; a failure becomes an {@link EventBusException} describing {@code what}. */
    public <T> T admin(String what, ChannelCall<T> call) {
        synchronized (lock) {
            try {
                if (admin == null || !admin.isOpen()) {
                    admin = connection.createChannel();
                }
                return call.call(admin);
            } catch (IOException | RuntimeException e) {
                if (e instanceof com.rabbitmq.client.ChannelContinuationTimeoutException
                        || e.getCause() instanceof com.rabbitmq.client.ChannelContinuationTimeoutException) {
                    abortAdmin(); // a late answer must not be taken for the next call's
                }
                throw translate(what, e);
            }
        }
    }

    /** Whether queue {@code name} exists (a passive declare; a 404 only costs the admin channel, reopened on next use). */
    public boolean queueExists(String name) {
        synchronized (lock) {
            try {
                if (admin == null || !admin.isOpen()) {
                    admin = connection.createChannel();
                }
                admin.queueDeclarePassive(name);
                return true;
            } catch (IOException | RuntimeException e) {
                if (Connections.replyCode(e) == 404) {
                    return false;
                }
                throw translate("inspect queue '" + name + "'", e);
            }
        }
    }

    private void abortAdmin() {
        Channel ch = admin;
        admin = null;
        if (ch != null) {
            try {
                ch.abort();
            } catch (IOException | RuntimeException ignored) {
                // gone either way
            }
        }
    }

    /**
     * The stream's durable topic exchange, with its alternate exchange {@link Names#unroutedExchange}: a message
     * whose type no group's queue is bound to (an unknown type, or a known one nobody subscribes to) goes there,
     * and from there to every group, whose dispatcher dead-letters it (unknown type) or skips it, as on the other
     * transports, instead of the broker dropping it. A stream exchange declared by an older version without one
     * is kept as it is, with a WARN: its unbound types stay dropped (or refused to a mandatory publisher).
     */
    public void streamExchange(String stream) {
        String name = names.exchange(stream);
        if (done.contains("x:" + name)) {
            return;
        }
        String unrouted = names.unroutedExchange(stream);
        admin("declare exchange '" + unrouted + "'", ch -> ch.exchangeDeclare(unrouted, BuiltinExchangeType.FANOUT, true));
        exchanges.add(unrouted);
        done.add("x:" + unrouted);
        try {
            admin("declare exchange '" + name + "'", ch -> ch.exchangeDeclare(name, BuiltinExchangeType.TOPIC, true,
                    false, Map.of("alternate-exchange", unrouted)));
        } catch (EventBusException e) {
            if (Connections.replyCode(e.getCause() instanceof Exception c ? c : e) != 406) {
                throw e;
            }
            admin("inspect exchange '" + name + "'", ch -> ch.exchangeDeclarePassive(name));
            org.slf4j.LoggerFactory.getLogger(Topology.class).warn("exchange '{}' exists without the alternate "
                    + "exchange '{}' (declared by an older version of the bus): messages of a type no group is bound "
                    + "to are dropped by the broker instead of following eventbus.unknown-types. Delete the exchange "
                    + "(its bindings are declared again by the subscribers) to fix this", name, unrouted);
        }
        exchanges.add(name);
        done.add("x:" + name);
    }

    /** Binds a group's entry point (its work queue, or the exchange of its shards) to the stream's unrouted messages. */
    public void bindUnrouted(String stream, String destination, boolean isExchange) {
        String unrouted = names.unroutedExchange(stream);
        if (isExchange) {
            bindExchange(destination, unrouted, "");
        } else {
            bindQueue(destination, unrouted, "");
        }
    }

    public void exchange(String name, String type, Map<String, Object> args) {
        if (done.contains("x:" + name)) {
            return;
        }
        admin("declare exchange '" + name + "'", ch -> ch.exchangeDeclare(name, type, true, false, args));
        exchanges.add(name);
        done.add("x:" + name);
    }

    /** A durable queue with {@code args}; cached, so declaring twice costs one round trip. */
    public void queue(String name, Map<String, Object> args) {
        if (done.contains("q:" + name)) {
            return;
        }
        redeclareQueue(name, args);
    }

    /** Declares again even if cached (keeps an {@code x-expires} queue alive). */
    public void redeclareQueue(String name, Map<String, Object> args) {
        admin("declare queue '" + name + "'", ch -> ch.queueDeclare(name, true, false, false, args));
        queues.add(name);
        done.add("q:" + name);
    }

    /** A non-durable classic queue that holds no messages (a membership marker); expires when unused. */
    public void markerQueue(String name) {
        admin("declare queue '" + name + "'", ch -> ch.queueDeclare(name, false, false, false,
                Map.of("x-expires", 60_000, "x-queue-type", "classic")));
        queues.add(name);
    }

    public void bindQueue(String queue, String exchange, String routingKey) {
        String id = "b:" + queue + "<" + exchange + "#" + routingKey;
        if (done.contains(id)) {
            return;
        }
        admin("bind queue '" + queue + "' to '" + exchange + "' with '" + routingKey + "'",
                ch -> ch.queueBind(queue, exchange, routingKey));
        done.add(id);
    }

    public void bindQueue(String queue, String exchange, String routingKey, Map<String, Object> args) {
        String id = "b:" + queue + "<" + exchange + "#" + routingKey + args;
        if (done.contains(id)) {
            return;
        }
        admin("bind queue '" + queue + "' to '" + exchange + "'", ch -> ch.queueBind(queue, exchange, routingKey, args));
        done.add(id);
    }

    public void bindExchange(String destination, String source, String routingKey) {
        String id = "e:" + destination + "<" + source + "#" + routingKey;
        if (done.contains(id)) {
            return;
        }
        admin("bind exchange '" + destination + "' to '" + source + "' with '" + routingKey + "'",
                ch -> ch.exchangeBind(destination, source, routingKey));
        done.add(id);
    }

    /** Arguments of every queue that holds a group's messages (work, shard and dead-letter queues). */
    public Map<String, Object> queueArgs(String deadLetterQueue) {
        Map<String, Object> args = new HashMap<>();
        boolean quorum = config.queueType() == RabbitMqConfig.QueueType.QUORUM;
        args.put("x-queue-type", quorum ? "quorum" : "classic");
        if (deadLetterQueue != null) {
            args.put("x-dead-letter-exchange", "");
            args.put("x-dead-letter-routing-key", deadLetterQueue);
            if (quorum) {
                // A consumer that crashes on a message (never acknowledges) gets it at most this often.
                args.put("x-delivery-limit", config.deliveryLimit());
                args.put("x-dead-letter-strategy", "at-least-once");
                args.put("x-overflow", "reject-publish");
            }
        }
        if (config.maxPriority() > 0 && deadLetterQueue != null) {
            args.put("x-max-priority", config.maxPriority());
        }
        return args;
    }

    /**
     * Arguments of a wait queue: messages stay {@code ttlMs}, then the broker dead-letters them to
     * {@code exchange} (with {@code routingKey}, or their own routing key when null). The queue deletes itself
     * when unused for a while; users re-declare it in time (see {@link #waitQueueExpiry(long)}).
     */
    public Map<String, Object> waitQueueArgs(long ttlMs, String exchange, String routingKey) {
        Map<String, Object> args = new HashMap<>();
        boolean quorum = config.queueType() == RabbitMqConfig.QueueType.QUORUM;
        args.put("x-queue-type", quorum ? "quorum" : "classic");
        args.put("x-message-ttl", ttlMs);
        args.put("x-dead-letter-exchange", exchange);
        if (routingKey != null) {
            args.put("x-dead-letter-routing-key", routingKey);
        }
        if (quorum) {
            args.put("x-dead-letter-strategy", "at-least-once");
            args.put("x-overflow", "reject-publish");
        }
        args.put("x-expires", waitQueueExpiry(ttlMs));
        return args;
    }

    /** How long an unused wait queue lives: well past its TTL, so no waiting message is lost with it. */
    public static long waitQueueExpiry(long ttlMs) {
        return Math.max(2 * ttlMs, 10 * 60_000L) + ttlMs;
    }

    private RuntimeException translate(String what, Exception e) {
        String reason = Connections.describe(e);
        int code = Connections.replyCode(e);
        if (code == 406) {
            Matcher m = INEQUIVALENT.matcher(reason);
            if (m.find()) {
                String arg = m.group(1);
                String key = keyFor(arg);
                String object = what.replaceFirst("^declare ", "");
                String msg = "RabbitMQ refused to " + what + ": it already exists with other arguments ("
                        + reason + "). " + (key == null
                        ? "Argument '" + arg + "' is set by this transport itself (the object was declared by another tool or version)"
                        : "Argument '" + arg + "' comes from " + key + ": set it to match the existing "
                        + object.replaceFirst(" '.*", "") + " (queue arguments come from " + RabbitMqConfig.QUEUE_TYPE
                        + ", " + RabbitMqConfig.DELIVERY_LIMIT + " and " + RabbitMqConfig.MAX_PRIORITY + ")")
                        + ", or delete the " + object + " (rabbitmqctl delete_queue / rabbitmqadmin delete) so it is declared afresh; "
                        + "its messages are lost with it.";
                return key == null ? new EventBusException(msg, e, false) : new ConfigException(key, msg, e);
            }
        }
        if (e instanceof com.rabbitmq.client.ChannelContinuationTimeoutException
                || e.getCause() instanceof com.rabbitmq.client.ChannelContinuationTimeoutException) {
            return new EventBusException("RabbitMQ did not answer in time to " + what + " (the broker is slow or "
                    + "unreachable; publishing waits at most " + RabbitMqConfig.PUBLISH_MAX_BLOCK + ")", e, true);
        }
        boolean retriable = code == 0 || code == 320 || code == 541;
        return new EventBusException("RabbitMQ could not " + what + ": " + reason, e, retriable);
    }

    private static String keyFor(String arg) {
        switch (arg) {
            case "x-queue-type":
            case "x-overflow":
            case "x-dead-letter-strategy":
                // the last two are only set on quorum queues, so they differ exactly when the type does
                return RabbitMqConfig.QUEUE_TYPE;
            case "x-max-priority":
                return RabbitMqConfig.MAX_PRIORITY;
            case "x-delivery-limit":
                return RabbitMqConfig.DELIVERY_LIMIT;
            default:
                return null;
        }
    }
}
