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
}
