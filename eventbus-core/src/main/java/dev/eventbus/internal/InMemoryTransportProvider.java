package dev.eventbus.internal;

import dev.eventbus.EventBusConfig;
import dev.eventbus.InMemoryTransport;
import dev.eventbus.OverflowPolicy;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportContext;
import dev.eventbus.spi.TransportProvider;

import java.time.Duration;

/** Makes {@code eventbus.transport=memory} selectable. Thread-safe (stateless). */
public final class InMemoryTransportProvider implements TransportProvider {

    @Override
    public String name() {
        return "memory";
    }

    /** The in-memory transport's keys: they live among the bus's own, under {@code eventbus.memory.}. */
    @Override
    public java.util.Collection<String> configKeys() {
        return java.util.List.of(EventBusConfig.MEMORY_LANES, EventBusConfig.MEMORY_LANE_CAPACITY);
    }

    @Override
    public Transport create(TransportContext context) {
        int lanes = context.getInt(EventBusConfig.MEMORY_LANES, 64, 1, 65536);
        int capacity = context.getInt(EventBusConfig.MEMORY_LANE_CAPACITY, 1024, 1, 1 << 24);
        OverflowPolicy overflow = context.getEnum(EventBusConfig.DISPATCH_OVERFLOW, OverflowPolicy.class,
                OverflowPolicy.BLOCK);
        Duration block = context.getDuration(EventBusConfig.DISPATCH_BLOCK_TIMEOUT, Duration.ofSeconds(30));
        return new InMemoryTransport(lanes, capacity, overflow, block);
    }
}
