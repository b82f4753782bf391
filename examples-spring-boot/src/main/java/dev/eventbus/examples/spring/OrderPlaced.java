package dev.eventbus.examples.spring;

import dev.eventbus.EventType;

/** An order was placed and paid for. */
@EventType(name = "order.placed", stream = "orders")
public record OrderPlaced(String orderId, String customer, long totalCents) {
}
