package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.AlreadyClosedException;
import com.rabbitmq.client.BlockedListener;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.ConfirmListener;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.Recoverable;
import com.rabbitmq.client.RecoveryListener;
import com.rabbitmq.client.ReturnListener;
import com.rabbitmq.client.ShutdownSignalException;
import dev.eventbus.EventBusException;
import dev.eventbus.rabbitmq.RabbitMqConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Publishes on one confirm-mode channel with many confirms outstanding (up to the confirm window), completing
 * each publish's future on its broker confirm: failed on a nack, on an unroutable return (mandatory), or when no
 * confirm came within the publish timeout.
 *
 * <p>When the connection drops, or the broker blocks it (resource alarm), publishes not yet confirmed and
 * publishes made meanwhile wait for the automatic recovery (or the unblock) and are then sent again in their order
 * (so a consumer may see a message twice, never lose a confirmed one); those still waiting when the publish timeout
 * passes fail with a retriable {@link EventBusException}. The caller's thread never waits for the broker: once the
 * confirm window is full, a publish waits at most {@code maxBlock} for room, then its future fails.
 *
 * <p>Thread-safe. Futures complete on the client's I/O thread: callers must not block in their callbacks.
 */
public final class Publisher {

    private static final Logger log = LoggerFactory.getLogger(Publisher.class);

    private final Connection connection;
    private final long timeoutNanos;
    private final long maxBlockNanos;
    private final Semaphore window;
    private final Object lock = new Object();
    private final ConcurrentSkipListMap<Long, Pending> outstanding = new ConcurrentSkipListMap<>();
    private final ArrayDeque<Pending> waiting = new ArrayDeque<>();
    private final ScheduledFuture<?> sweeper;
    private final Consumer<String> onChannelError;
    private Channel channel;
    private volatile boolean connected = true;
    /** The broker blocked the connection (memory or disk alarm): publishes wait here instead of in a socket write. */
    private volatile boolean blocked;
    private volatile boolean closed;

    private static final class Pending {
        final String exchange;
        final String routingKey;
        final boolean mandatory;
        final AMQP.BasicProperties props;
        final byte[] body;
        final CompletableFuture<Void> future = new CompletableFuture<>();
        long deadline;
        volatile String returned;

        Pending(String exchange, String routingKey, boolean mandatory, AMQP.BasicProperties props, byte[] body) {
            this.exchange = exchange;
            this.routingKey = routingKey;
            this.mandatory = mandatory;
            this.props = props;
            this.body = body;
        }
    }

    /**
     * @param onChannelError told (with the broker's reason) when the channel died of a channel error, e.g. a
     *                       publish to an exchange someone deleted; the cache of declared objects is stale then
     */
    public Publisher(Connection connection, int confirmWindow, Duration publishTimeout, Duration maxBlock,
                     ScheduledExecutorService timer, Consumer<String> onChannelError) {
        this.connection = connection;
        this.timeoutNanos = publishTimeout.toNanos();
        this.maxBlockNanos = maxBlock.toNanos();
        this.window = new Semaphore(confirmWindow);
        this.onChannelError = onChannelError;
        synchronized (lock) {
            openChannel();
        }
        this.sweeper = timer.scheduleWithFixedDelay(this::sweep, 100, 100, TimeUnit.MILLISECONDS);
        connection.addBlockedListener(new BlockedListener() {
            @Override
            public void handleBlocked(String reason) {
                blocked = true;
                log.warn("RabbitMQ blocked publishing ({}); publishes wait up to the publish timeout", reason);
            }

            @Override
            public void handleUnblocked() {
                blocked = false;
                timer.execute(Publisher.this::onRecovered); // not on the connection's I/O thread: sending may block
            }
        });
    }

    private void openChannel() {
        try {
            Channel ch = connection.createChannel();
            ch.confirmSelect();
            ch.addConfirmListener(new ConfirmListener() {
                @Override
                public void handleAck(long seq, boolean multiple) {
                    settle(seq, multiple, null);
                }

                @Override
                public void handleNack(long seq, boolean multiple) {
                    settle(seq, multiple, "RabbitMQ refused the message (basic.nack): it was not stored");
                }
            });
            ch.addReturnListener((ReturnListener) this::returned);
            ch.addShutdownListener(sse -> onShutdown(ch, sse));
            if (ch instanceof Recoverable r) {
                r.addRecoveryListener(new RecoveryListener() {
                    @Override
                    public void handleRecovery(Recoverable recoverable) {
                        onRecovered();
                    }

                    @Override
                    public void handleRecoveryStarted(Recoverable recoverable) {
                    }
                });
            }
            channel = ch;
        } catch (IOException | RuntimeException e) {
            throw new EventBusException("Cannot open a RabbitMQ publishing channel: " + Connections.describe(e), e, true);
        }
    }

    /**
     * Publishes; the future completes on the broker's confirm. Blocks only while the confirm window is full, at most
     * {@code maxBlock}.
     */
    public CompletableFuture<Void> publish(String exchange, String routingKey, boolean mandatory,
                                           AMQP.BasicProperties props, byte[] body) {
        Pending p = new Pending(exchange, routingKey, mandatory, props, body);
        if (closed) {
            p.future.completeExceptionally(closedException());
            return p.future;
        }
        if (!window.tryAcquire()) {
            try {
                if (!window.tryAcquire(maxBlockNanos, TimeUnit.NANOSECONDS)) {
                    p.future.completeExceptionally(new EventBusException("RabbitMQ publish not sent: the confirm window "
                            + "stayed full for " + RabbitMqConfig.PUBLISH_MAX_BLOCK + "=" + Duration.ofNanos(maxBlockNanos).toMillis()
                            + "ms (" + (connected && !blocked ? "broker slow or not answering" : blocked
                            ? "the broker blocked publishing" : "connection lost, recovering") + ")", null, true));
                    return p.future;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.future.completeExceptionally(new EventBusException("interrupted while waiting to publish", e, true));
                return p.future;
            }
        }
        synchronized (lock) {
            if (closed) {
                fail(p, closedException());
            } else if (!connected || blocked || (channel == null && !reopen())) {
                p.deadline = System.nanoTime() + timeoutNanos;
                waiting.addLast(p);
            } else {
                send(p);
            }
        }
        return p.future;
    }

    private boolean reopen() {
        try {
            openChannel();
            return true;
        } catch (EventBusException e) {
            log.debug("publishing channel not reopened yet: {}", e.getMessage());
            return false;
        }
    }

    /** Caller holds the lock. */
    private void send(Pending p) {
        Channel ch = channel;
        long seq = ch.getNextPublishSeqNo();
        p.deadline = System.nanoTime() + timeoutNanos;
        outstanding.put(seq, p);
        try {
            ch.basicPublish(p.exchange, p.routingKey, p.mandatory, p.props, p.body);
        } catch (IOException | AlreadyClosedException e) {
            outstanding.remove(seq);
            ShutdownSignalException why = ch.getCloseReason();
            if (why != null && why.isHardError() && !why.isInitiatedByApplication()) {
                connected = false; // connection lost: keep it for the resend after recovery
                p.deadline = System.nanoTime() + timeoutNanos;
                waiting.addLast(p);
            } else {
                if (channel == ch && !ch.isOpen()) {
                    channel = null;
                }
                fail(p, new EventBusException("RabbitMQ publish failed: " + Connections.describe(e), e, true));
            }
        }
    }

    private void settle(long seq, boolean multiple, String nackReason) {
        if (multiple) {
            ConcurrentNavigableMap<Long, Pending> head = outstanding.headMap(seq, true);
            for (Iterator<Pending> it = head.values().iterator(); it.hasNext(); ) {
                Pending p = it.next();
                it.remove();
                settle(p, nackReason);
            }
        } else {
            Pending p = outstanding.remove(seq);
            if (p != null) {
                settle(p, nackReason);
            }
        }
    }

    private void settle(Pending p, String nackReason) {
        if (nackReason != null) {
            fail(p, new EventBusException(nackReason, null, true));
        } else if (p.returned != null) {
            fail(p, new EventBusException(p.returned, null, false));
        } else if (p.future.complete(null)) {
            window.release();
        }
    }

    private void fail(Pending p, Throwable t) {
        if (p.future.completeExceptionally(t)) {
            window.release();
        }
    }

    private void returned(int replyCode, String replyText, String exchange, String routingKey,
                          AMQP.BasicProperties props, byte[] body) {
        String id = props.getMessageId();
        for (Pending p : outstanding.values()) {
            if (p.returned == null && p.exchange.equals(exchange) && p.routingKey.equals(routingKey)
                    && Objects.equals(id, p.props.getMessageId())) {
                p.returned = "RabbitMQ could not route the message (" + replyText + "): no queue is bound to exchange '"
                        + exchange + "' for routing key '" + routingKey + "', so no consumer group subscribes to it yet."
                        + " Subscribe a group first, or set eventbus.rabbitmq.mandatory=false to drop such messages";
                return;
            }
        }
    }

    private void onShutdown(Channel ch, ShutdownSignalException sse) {
        if (closed) {
            return;
        }
        synchronized (lock) {
            List<Pending> unconfirmed = new ArrayList<>(outstanding.values());
            outstanding.clear();
            if (sse.isHardError() && !sse.isInitiatedByApplication()) {
                // Connection lost; automatic recovery follows. Send the unconfirmed again, oldest first.
                connected = false;
                for (int i = unconfirmed.size() - 1; i >= 0; i--) {
                    waiting.addFirst(unconfirmed.get(i));
                }
                log.warn("RabbitMQ connection lost ({}); {} unconfirmed publish(es) will be sent again after recovery",
                        Connections.describe(sse), unconfirmed.size());
            } else if (!sse.isHardError()) {
                String reason = Connections.describe(sse);
                for (Pending p : unconfirmed) {
                    fail(p, new EventBusException("RabbitMQ closed the publishing channel (" + reason
                            + "); the message may or may not have been stored", sse, true));
                }
                if (channel == ch) {
                    channel = null; // a channel error is not recovered automatically: open a new one on next use
                }
                onChannelError.accept(reason);
            }
        }
    }

    private void onRecovered() {
        synchronized (lock) {
            connected = true;
            int n = 0;
            while (!waiting.isEmpty() && connected && !blocked) {
                Pending p = waiting.pollFirst();
                if (!p.future.isDone()) {
                    send(p);
                    n++;
                }
            }
            if (n > 0) {
                log.info("RabbitMQ connection recovered; sent {} waiting publish(es) again", n);
            }
        }
    }

    private void sweep() {
        long now = System.nanoTime();
        synchronized (lock) {
            for (Iterator<Pending> it = waiting.iterator(); it.hasNext(); ) {
                Pending p = it.next();
                if (p.future.isDone()) {
                    it.remove();
                } else if (now - p.deadline > 0) {
                    it.remove();
                    fail(p, new EventBusException("RabbitMQ publish not sent: the connection was lost (or blocked) and "
                            + "not back within " + RabbitMqConfig.PUBLISH_TIMEOUT + "="
                            + Duration.ofNanos(timeoutNanos).toMillis() + "ms", null, true));
                }
            }
        }
        for (Map.Entry<Long, Pending> e : outstanding.entrySet()) {
            Pending p = e.getValue();
            if (now - p.deadline <= 0) {
                break; // ordered by sequence, so by send time
            }
            if (outstanding.remove(e.getKey(), p)) {
                fail(p, new EventBusException("RabbitMQ did not confirm the message within " + RabbitMqConfig.PUBLISH_TIMEOUT
                        + "=" + Duration.ofNanos(timeoutNanos).toMillis() + "ms; it may or may not have been stored", null, true));
            }
        }
    }

    /** Publishes not yet settled (confirmed, refused or failed). */
    public int unsettled() {
        synchronized (lock) {
            return outstanding.size() + waiting.size();
        }
    }

    /** Waits up to {@code timeout} for every publish to settle, then fails what is left and closes the channel. */
    public void close(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (unsettled() > 0 && System.nanoTime() - deadline < 0) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        List<Pending> left;
        synchronized (lock) {
            closed = true;
            left = new ArrayList<>(outstanding.values());
            left.addAll(waiting);
            outstanding.clear();
            waiting.clear();
        }
        for (Pending p : left) {
            fail(p, new EventBusException("the RabbitMQ transport closed before the broker confirmed the message", null, true));
        }
        sweeper.cancel(false);
        Channel ch = channel;
        if (ch != null && ch.isOpen()) {
            try {
                ch.close();
            } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException e) {
                log.debug("closing the publishing channel: {}", e.toString());
            }
        }
    }

    private static EventBusException closedException() {
        return new EventBusException("the RabbitMQ transport is closed", null, false);
    }
}
