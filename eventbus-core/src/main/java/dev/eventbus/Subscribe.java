package dev.eventbus;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Marks a method as an event subscriber, found by {@link EventBus#register(Object)}.
 *
 * <p>The method takes the event ({@code void on(OrderPlaced e)}), its {@link Envelope}
 * ({@code void on(Envelope<OrderPlaced> e)}), or both in that order ({@code void on(OrderPlaced e,
 * Envelope<OrderPlaced> env)}). It receives events of its parameter's type and of every subtype. It returns
 * {@code void}, may be non-public (the bus binds it once, at registration), and may throw: a thrown exception
 * goes to the bus's {@link RetryPolicy}, then to the dead letters, never to the publisher.
 *
 * <p>A method taking {@code List<E>} or {@link Batch Batch<E>} is a <em>batch subscriber</em>: see
 * {@link #batchSize()}. {@link #filter()} narrows what a subscriber receives by attributes and headers.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface Subscribe {

    /**
     * The consumer group: every group gets every event, and instances of one service in the same group share the
     * work. Empty (the default) means the bus's service name.
     */
    String group() default "";

    /**
     * At most this many events of this subscription handled at once (events with the same key still one after
     * the other). 0 (the default) means the bus's {@code eventbus.consumer.concurrency}.
     */
    int concurrency() default 0;

    /**
     * Which events this subscriber wants, by attributes and headers, in the syntax of {@link Filter#parse}
     * ({@code "region = eu and type in (order.placed, order.shipped)"}); evaluated before the body is decoded.
     * Events it rejects are acknowledged and counted ({@link EventBus.Stats#filtered()}), never dead-lettered.
     * Empty (the default): every event of the parameter's type. A malformed expression fails registration.
     */
    String filter() default "";

    /**
     * For a batch subscriber (a method taking {@code List<E>} or {@link Batch Batch<E>}): the most events in one
     * call. 0 (the default) means {@code eventbus.group.<group>.batch.max-size}, else 100. Set here, it wins over
     * the configuration, as settings made in code do.
     *
     * <p>How batches work:
     * <ul>
     *   <li>A call is made when {@code batchSize} events are waiting or the first of them has waited
     *       {@link #batchWait()}, whichever comes first; on close, waiting events are handed over at once.</li>
     *   <li>Events are batched per lane (per key): a batch holds events of several keys, each key's events in
     *       order, and a lane's next batch starts only after its previous call returned, so per-key order holds.
     *       The lanes are the subscription's {@link #concurrency()}.</li>
     *   <li>Acknowledgement is per batch: no event of a batch is acknowledged to the transport before the call
     *       returns. A close that cannot wait for the call leaves its events unacknowledged (redelivered).</li>
     *   <li>When the call throws, the whole batch is retried at once as often as the {@link RetryPolicy} allows
     *       immediate retries; if it still fails, it is split in halves, each handed over again (the first half
     *       first), down to single events, so one poison event cannot hold back the others. An event that fails
     *       alone takes the normal retry ladder (delayed redelivery, where it joins a later batch), and is
     *       dead-lettered, alone, with the reason, when its attempts are used up. Events of a failed call that
     *       pass in a smaller batch are acknowledged then. A handler that makes each call atomic (one database
     *       transaction) therefore sees each event committed once; otherwise delivery is at least once, as
     *       always.</li>
     *   <li>Consume interceptors wrap single events, not batches: they are not applied to batch subscribers (an
     *       idempotency interceptor cannot vouch for a whole batch). Observers are told each event's outcome.</li>
     * </ul>
     */
    int batchSize() default 0;

    /**
     * For a batch subscriber: how long the first event of a batch may wait for the batch to fill, as
     * {@code 250ms}, {@code 2s} or ISO-8601 ({@code PT0.5S}). Empty (the default) means
     * {@code eventbus.group.<group>.batch.max-wait}, else 200ms. Set here, it wins over the configuration.
     */
    String batchWait() default "";
}
