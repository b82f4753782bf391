package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.GetResponse;
import dev.eventbus.DeadLetter;
import dev.eventbus.EventBusException;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;

import java.io.IOException;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * Lists and replays the messages in the dead-letter queues of the groups this transport subscribed. Listing
 * reads messages with {@code basic.get} and puts them back (closing the channel requeues them), so it does not
 * consume them; two concurrent listings may each see only part of a queue.
 *
 * <p>Thread-safe; every call blocks on the broker.
 */
public final class DeadLetterQueues implements Transport.DeadLetterStore {

    /** A group known to this transport: where its dead letters are and where a replay goes. */
    public record GroupInfo(String stream, String group, String deadLetterQueue, String replayExchange,
                            String replayRoutingKey, boolean ordered) {
    }

    private final Connection connection;
    private final Publisher publisher;
    private final Supplier<List<GroupInfo>> groups;
    private final long timeoutMs;

    public DeadLetterQueues(Connection connection, Publisher publisher, Supplier<List<GroupInfo>> groups,
                            long timeoutMs) {
        this.connection = connection;
        this.publisher = publisher;
        this.groups = groups;
        this.timeoutMs = timeoutMs;
    }

    @Override
    public List<DeadLetter> list(String group, int limit) {
        List<DeadLetter> out = new ArrayList<>();
        for (GroupInfo g : groups.get()) {
            if (group != null && !group.equals(g.group())) {
                continue;
            }
            Channel ch = open();
            try {
                while (out.size() < limit) {
                    GetResponse r = ch.basicGet(g.deadLetterQueue(), false);
                    if (r == null) {
                        break;
                    }
                    out.add(toDeadLetter(g, r));
                }
            } catch (IOException e) {
                throw new EventBusException("RabbitMQ: cannot read dead-letter queue '" + g.deadLetterQueue() + "': "
                        + Connections.describe(e), e, true);
            } finally {
                close(ch); // requeues everything we looked at
            }
        }
        return out;
    }

    @Override
    public boolean replay(DeadLetter deadLetter) {
        for (GroupInfo g : groups.get()) {
            if (!g.group().equals(deadLetter.group()) || !g.stream().equals(deadLetter.originalStream())) {
                continue;
            }
            Channel ch = open();
            try {
                GetResponse r;
                while ((r = ch.basicGet(g.deadLetterQueue(), false)) != null) {
                    if (id(g, r).equals(deadLetter.id())) {
                        AMQP.BasicProperties clean = WireMapping.republish(r.getProps(), null, null, true, null);
                        String routingKey = g.ordered() ? routingKeyOf(r) : g.replayRoutingKey();
                        if (g.ordered()) {
                            // To the group's shard exchange, with the key's shard route as on first publish.
                            clean = WireMapping.withHeader(clean, WireMapping.BCC, KeyShards.route(bucketOf(r)));
                        }
                        publisher.publish(g.replayExchange(), routingKey, true, clean, r.getBody())
                                .get(timeoutMs, TimeUnit.MILLISECONDS);
                        ch.basicAck(r.getEnvelope().getDeliveryTag(), false);
                        return true;
                    }
                }
                return false;
            } catch (IOException | TimeoutException e) {
                throw new EventBusException("RabbitMQ: cannot replay from '" + g.deadLetterQueue() + "': "
                        + Connections.describe(e), e, true);
            } catch (java.util.concurrent.ExecutionException e) {
                throw new EventBusException("RabbitMQ: replay of " + deadLetter.id() + " was not accepted: "
                        + e.getCause().getMessage(), e.getCause(), true);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new EventBusException("interrupted while replaying " + deadLetter.id(), e, true);
            } finally {
                close(ch);
            }
        }
        return false;
    }

    private static int bucketOf(GetResponse r) {
        Map<String, Object> h = r.getProps().getHeaders();
        String key = WireMapping.key(h);
        String k = key != null ? key : r.getProps().getMessageId();
        return k == null ? 0 : KeyShards.bucket(k);
    }

    private static String routingKeyOf(GetResponse r) {
        Map<String, Object> h = r.getProps().getHeaders();
        String k = h == null ? null : WireMapping.text(h.get(WireMapping.DLQ_ROUTING_KEY));
        return k != null ? k : r.getProps().getType() != null ? r.getProps().getType() : "";
    }

    private static DeadLetter toDeadLetter(GroupInfo g, GetResponse r) {
        TransportMessage m = WireMapping.message(g.stream(), r.getProps(), r.getBody());
        String reason = m.header(MessageHeaders.DLQ_REASON);
        Map<String, Object> death = firstDeath(r.getProps());
        if (reason == null) {
            String why = death == null ? "unknown" : WireMapping.text(death.get("reason"));
            reason = "delivery_limit".equals(why)
                    ? "RabbitMQ dead-lettered it after the queue's delivery limit: it was delivered again and again "
                    + "without being acknowledged (the consumer crashed or kept failing on it)"
                    : "RabbitMQ dead-lettered it (" + why + ")";
        }
        return new DeadLetter(id(g, r), g.group(), m, reason, deadAt(m, death));
    }

    private static Instant deadAt(TransportMessage m, Map<String, Object> death) {
        String t = m.header(MessageHeaders.DLQ_TIME);
        if (t != null) {
            try {
                return Instant.parse(t);
            } catch (DateTimeParseException ignored) {
                // fall through
            }
        }
        if (death != null && death.get("time") instanceof Date d) {
            return d.toInstant();
        }
        return Instant.now();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> firstDeath(AMQP.BasicProperties props) {
        Map<String, Object> h = props.getHeaders();
        if (h != null && h.get("x-death") instanceof List<?> deaths && !deaths.isEmpty()
                && deaths.get(0) instanceof Map<?, ?> d) {
            return (Map<String, Object>) d;
        }
        return null;
    }

    /** Stable across listings: queue, message id and the time it was dead-lettered. */
    private static String id(GroupInfo g, GetResponse r) {
        Map<String, Object> h = r.getProps().getHeaders();
        String time = h == null ? null : WireMapping.text(h.get(MessageHeaders.DLQ_TIME));
        if (time == null) {
            Map<String, Object> death = firstDeath(r.getProps());
            time = death != null && death.get("time") instanceof Date d ? d.toInstant().toString() : "";
        }
        return g.deadLetterQueue() + "|" + r.getProps().getMessageId() + "|" + time;
    }

    private Channel open() {
        try {
            return connection.createChannel();
        } catch (IOException e) {
            throw new EventBusException("RabbitMQ: cannot open a channel: " + Connections.describe(e), e, true);
        }
    }

    private static void close(Channel ch) {
        try {
            if (ch.isOpen()) {
                ch.close();
            }
        } catch (IOException | TimeoutException | RuntimeException ignored) {
            // closing requeues; nothing else to do
        }
    }
}
