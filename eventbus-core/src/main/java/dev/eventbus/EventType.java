package dev.eventbus;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Names an event class on the wire.
 *
 * <p>Without this annotation an event's wire name is its fully qualified class name, its version is 1 and its
 * stream is the bus's default stream ({@code eventbus.default-stream}, {@code events} unless set). Those defaults
 * are deterministic but tie the wire to your class names: annotate events that leave the JVM.
 *
 * <pre>{@code
 * @EventType(name = "order.placed", version = 2, stream = "orders")
 * record OrderPlaced(String orderId, long cents) implements Event { ... }
 * }</pre>
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.TYPE)
public @interface EventType {

    /** The CloudEvents {@code type}, e.g. {@code order.placed}. Empty: the fully qualified class name. */
    String name() default "";

    /** The schema version written with every event; readers upcast older versions (see {@link Upcaster}). */
    int version() default 1;

    /** The stream (Kafka topic, RabbitMQ exchange, JDBC log) it travels on. Empty: the bus's default stream. */
    String stream() default "";
}
