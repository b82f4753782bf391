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

    /**
     * For a batch group, whose outcomes settle out of delivery order: the tags delivered and not yet settled, in
     * delivery order, and those settled ahead of an older one. A coalesced {@code multiple=true} acknowledgement may
     * then only cover the settled prefix, never a message still waiting for its batch. Null otherwise.
     */
    private java.util.ArrayDeque<Long> unsettled;
    private java.util.HashSet<Long> settledAhead;

    /** Outcomes of this consumer's messages may settle in any order (batch subscribers). Before consuming. */
    synchronized void settlesOutOfOrder() {
        unsettled = new java.util.ArrayDeque<>();
        settledAhead = new java.util.HashSet<>();
    }

    /** Records a delivery's tag, in delivery order (out-of-order mode only). */
    synchronized void delivered(long tag) {
        if (unsettled != null) {
            unsettled.addLast(tag);
        }
    }

    /** Marks {@code tag} settled; returns the newest tag of the settled prefix, or -1 when the prefix did not move. */
    private long settledPrefix(long tag) {
        settledAhead.add(tag);
        long upTo = -1;
        while (!unsettled.isEmpty() && settledAhead.remove(unsettled.peekFirst())) {
            upTo = unsettled.pollFirst();
            pendingCount++;
        }
        return upTo;
    }

    /** The message with {@code tag} was settled: acknowledge it (coalesced). */
    synchronized void ack(long tag) {
        if (unsettled != null) {
            long upTo = settledPrefix(tag);
            if (upTo < 0) {
                return; // an older message still waits for its batch
            }
            pendingTag = upTo;
            if (pendingCount >= ackBatch) {
                flush();
                return;
            }
            ackedSinceTick = true;
            if (!watched) {
                watched = true;
                flusher.watch(this);
            }
            return;
        }
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
        if (unsettled != null) {
            // Settled (by the nack itself) as far as the prefix goes; the ones behind it may be acknowledged now.
            // pendingCount counted it: a multiple ack past a nacked tag leaves that tag alone.
            long upTo = settledPrefix(tag);
            if (upTo >= 0) {
                pendingTag = upTo;
            }
        }
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
