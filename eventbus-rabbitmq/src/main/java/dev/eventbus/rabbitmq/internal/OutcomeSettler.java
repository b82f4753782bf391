package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Envelope;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.TransportMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Turns a handler's outcome into what the broker must do: {@code ACK} acknowledges; {@code RETRY} republishes to the
 * group's wait queue for the delay (or straight back to its queue) and then acknowledges; {@code DEAD} republishes
 * to the group's dead-letter queue with the failure in its headers and then acknowledges; a thrown handler (no
 * outcome) is nacked and requeued. A republish that fails leaves the original unacknowledged, so it comes again.
 *
 * <p>A per-key ordered group's retry goes back to the shard it came from: straight into the shard queue, or through
 * a wait queue that dead-letters into the group's shard exchange with the shard's route in the {@code CC} header.
 *
 * <p>Thread-safe: called on the consumers' dispatch threads; holds no state of its own.
 */
final class OutcomeSettler {

    private static final Logger log = LoggerFactory.getLogger(OutcomeSettler.class);
    private static final int STACK_LINES = 12;

    private final GroupSubscription sub;
    private final Shared shared;

    OutcomeSettler(GroupSubscription sub) {
        this.sub = sub;
        this.shared = sub.shared;
    }

    void settle(ChannelConsumer consumer, Envelope env, AMQP.BasicProperties props, byte[] body,
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
                if (awaitPublish(retry(consumer, env, props, body, attempt, outcome), "retry")) {
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
                    sub.group, sub.stream, what, e instanceof ExecutionException ? e.getCause().getMessage() : e.toString());
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static String originalRoutingKey(Envelope env, AMQP.BasicProperties props) {
        Map<String, Object> h = props.getHeaders();
        String k = h == null ? null : WireMapping.text(h.get(WireMapping.ROUTING_KEY_HEADER));
        return k != null ? k : env.getRoutingKey();
    }

    private CompletableFuture<Void> retry(ChannelConsumer consumer, Envelope env, AMQP.BasicProperties props,
                                          byte[] body, int attempt, Outcome outcome) {
        String routingKey = originalRoutingKey(env, props);
        AMQP.BasicProperties next = WireMapping.republish(props, outcome.headers(), attempt + 1, false, routingKey);
        Names names = sub.names;
        try {
            if (sub.ordered && consumer.shard >= 0) {
                String shardQueue = names.shardQueue(sub.stream, sub.group, consumer.shard);
                if (outcome.delay().isZero()) {
                    return shared.publisher.publish("", shardQueue, true, next, body);
                }
                long ms = Names.bucketMillis(outcome.delay());
                String wait = names.retryQueue(sub.stream, sub.group, ms);
                // Dead-lettered with its routing keys (CC included) into the shard exchange: back to this shard.
                shared.ensureRetryQueue(wait, ms, sub.shardExchange, null);
                int bucket = KeyShards.firstBucket(consumer.shard, shared.config.shards());
                next = WireMapping.withHeader(next, WireMapping.CC, KeyShards.route(bucket));
                return shared.publisher.publish("", wait, true, next, body);
            }
            if (outcome.delay().isZero()) {
                return shared.publisher.publish("", sub.workQueue, true, next, body);
            }
            long ms = Names.bucketMillis(outcome.delay());
            String wait = names.retryQueue(sub.stream, sub.group, ms);
            shared.ensureRetryQueue(wait, ms, "", sub.workQueue);
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
        h.put(MessageHeaders.DLQ_GROUP, sub.group);
        h.put(MessageHeaders.DLQ_ORIGINAL_STREAM, sub.stream);
        h.put(MessageHeaders.DLQ_ORIGIN, origin);
        h.put(MessageHeaders.DLQ_TIME, now);
        h.put(WireMapping.DLQ_ROUTING_KEY, originalRoutingKey(env, props));
        AMQP.BasicProperties next = WireMapping.republish(props, h, null, false, null);
        return shared.publisher.publish("", sub.deadLetterQueue, true, next, body);
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
}
