package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.ShutdownSignalException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One consumer on its own channel. The client calls {@link #handleDelivery} for one channel on one thread at a
 * time, in delivery order, and we run the handler right there (on a connection executor that may block), so
 * outcomes settle in delivery order and acknowledgements can be coalesced: one {@code basic.ack multiple=true}
 * per batch, or after a few milliseconds when traffic pauses.
 *
 * <p>Thread-safe: acknowledgement state is guarded by this object's monitor (the flush timer shares it).
 */
final class ChannelConsumer extends DefaultConsumer {

    private static final Logger log = LoggerFactory.getLogger(ChannelConsumer.class);
    private static final long FLUSH_DELAY_MS = 5;

    final GroupSubscription owner;
    final String queue;
    final int shard;
    final AtomicInteger inFlight = new AtomicInteger();
    private final int ackBatch;
    private final ScheduledExecutorService timer;
    /** Stop taking deliveries (subscription closing, shard handed over, connection lost). */
    volatile boolean released;
    /** The channel died with its connection: outcomes of messages in flight are not settled (the broker redelivers). */
    volatile boolean lost;
    private long pendingTag;
    private int pendingCount;
    private boolean flushArmed;
    private final Runnable timedFlush = this::timedFlush;

    ChannelConsumer(Channel channel, GroupSubscription owner, String queue, int shard, int prefetch,
                    ScheduledExecutorService timer) {
        super(channel);
        this.owner = owner;
        this.queue = queue;
        this.shard = shard;
        this.ackBatch = Math.max(1, Math.min(100, prefetch / 2));
        this.timer = timer;
    }

    @Override
    public void handleDelivery(String consumerTag, Envelope envelope, AMQP.BasicProperties properties, byte[] body) {
        if (released) {
            return; // left unacknowledged: the broker requeues it when this channel closes
        }
        owner.deliver(this, envelope, properties, body);
    }

    @Override
    public void handleCancel(String consumerTag) {
        log.warn("RabbitMQ cancelled the consumer of queue '{}' (queue deleted?)", queue);
        released = true;
        owner.consumerCancelled(this);
    }

    @Override
    public void handleShutdownSignal(String consumerTag, ShutdownSignalException sig) {
        if (!sig.isInitiatedByApplication()) {
            log.debug("consumer of '{}' saw its channel close: {}", queue, Connections.describe(sig));
        }
    }

    /** The message with {@code tag} was settled: acknowledge it (coalesced). */
    synchronized void ack(long tag) {
        pendingTag = tag;
        if (++pendingCount >= ackBatch) {
            flush();
        } else if (!flushArmed) {
            flushArmed = true;
            try {
                timer.schedule(timedFlush, FLUSH_DELAY_MS, TimeUnit.MILLISECONDS);
            } catch (RuntimeException e) {
                flushArmed = false;
                flush();
            }
        }
    }

    /** Not acknowledged: the broker delivers it again (quorum queues count it toward the delivery limit). */
    synchronized void nack(long tag) {
        flush();
        try {
            getChannel().basicNack(tag, false, true);
        } catch (IOException | RuntimeException e) {
            log.debug("nack on '{}' not sent ({}); the broker requeues it with the channel", queue, e.toString());
        }
    }

    private synchronized void timedFlush() {
        flushArmed = false;
        flush();
    }

    synchronized void flush() {
        if (pendingCount == 0) {
            return;
        }
        long tag = pendingTag;
        pendingCount = 0;
        try {
            getChannel().basicAck(tag, true);
        } catch (IOException | RuntimeException e) {
            // The channel is gone: the broker requeues those messages, so they come again (at least once).
            log.debug("ack on '{}' not sent ({}); its messages will be redelivered", queue, e.toString());
        }
    }

    /** Cancels the consumer (no new deliveries); errors ignored since closing the channel does it too. */
    void cancel() {
        released = true;
        try {
            if (getChannel().isOpen() && getConsumerTag() != null) {
                getChannel().basicCancel(getConsumerTag());
            }
        } catch (IOException | RuntimeException e) {
            log.debug("cancel on '{}': {}", queue, e.toString());
        }
    }

    /** Settles pending acknowledgements and closes the channel; the broker requeues whatever is not acknowledged. */
    void closeChannel() {
        released = true;
        flush();
        try {
            if (getChannel().isOpen()) {
                getChannel().close();
            }
        } catch (IOException | java.util.concurrent.TimeoutException | RuntimeException e) {
            log.debug("closing channel of '{}': {}", queue, e.toString());
        }
    }
}
