package dev.eventbus.spring;

import dev.eventbus.EventBus;

/**
 * A bean that adjusts the {@link EventBus.Builder} before the auto-configured bus is built: add a transport, a
 * serializer, a route, a metrics interceptor. Customizers run in {@link org.springframework.core.annotation.Order}
 * after the {@code eventbus.*} properties were applied, so a setting made here wins.
 *
 * <p>Called once, on the thread that creates the bus bean. Must not build the bus itself; exceptions fail startup.
 */
@FunctionalInterface
public interface EventBusBuilderCustomizer {

    void customize(EventBus.Builder builder);
}
