package dev.eventbus.benchmarks.core;

import dev.eventbus.EventType;

/** The event every core benchmark publishes; one instance is reused for the whole run. */
@EventType(name = "bench.order-placed")
public record OrderPlaced(String orderId, long cents) {

    static final OrderPlaced INSTANCE = new OrderPlaced("o-1", 4200);
}
