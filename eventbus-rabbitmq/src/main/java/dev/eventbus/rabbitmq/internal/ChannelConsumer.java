package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import com.rabbitmq.client.ShutdownSignalException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One consumer on its own channel. The client calls {@link #handleDelivery} for one channel on one thread at a
 * time, in delivery order, and we run the handler right there (on a connection executor that may block), so
 * outcomes settle in delivery order and acknowledgements can be coalesced: one {@code basic.ack multiple=true}
 * per batch, or from the transport's {@link AckFlusher} when traffic pauses (5 to 10 ms) or the acknowledgements
 * waited 20 ms.
 *
 * <p>Thread-safe: acknowledgement state is guarded by this object's monitor (the flush timer shares it).
 */
final class ChannelConsumer extends DefaultConsumer {

    private static final Logger log = LoggerFactory.getLogger(ChannelConsumer.class);

    final GroupSubscription owner;
    final String queue;
    final int shard;
    final AtomicInteger inFlight = new AtomicInteger();
    private final int ackBatch;
    private final AckFlusher flusher;
    /** Stop taking deliveries (subscription closing, shard handed over, connection lost). */
    volatile boolean released;
    /** The channel died with its connection: outcomes of messages in flight are not settled (the broker redelivers). */
    volatile boolean lost;
    private long pendingTag;
    private int pendingCount;
    /** Registered with the flusher, which looks at this consumer on its ticks. */
    private boolean watched;
    private boolean ackedSinceTick;
    private int ticksWaited;

    ChannelConsumer(Channel channel, GroupSubscription owner, String queue, int shard, int prefetch,
                    AckFlusher flusher) {
        super(channel);
        this.owner = owner;
        this.queue = queue;
        this.shard = shard;
        this.ackBatch = Math.max(1, Math.min(100, prefetch / 2));
        this.flusher = flusher;
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
            return;
        }
        ackedSinceTick = true;
        if (!watched) {
            watched = true;
            flusher.watch(this);
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

    /**
     * A tick of the {@link AckFlusher}: flushes when nothing was acknowledged since the last tick or the
     * acknowledgements waited long enough. Returns whether to look again on the next tick.
     */
    synchronized boolean tick() {
        if (pendingCount == 0) {
            watched = false;
            return false;
        }
        if (ackedSinceTick && ++ticksWaited < AckFlusher.MAX_TICKS) {
            ackedSinceTick = false;
            return true;
        }
        flushAndForget();
        return false;
    }

    synchronized void flushAndForget() {
        watched = false;
        flush();
    }

    synchronized void flush() {
        if (pendingCount == 0) {
            return;
        }
        long tag = pendingTag;
        pendingCount = 0;
        ticksWaited = 0;
        ackedSinceTick = false;
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
