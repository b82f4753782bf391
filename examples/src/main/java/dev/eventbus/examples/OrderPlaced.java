package dev.eventbus.examples;

import dev.eventbus.Event;
import dev.eventbus.EventType;

/** An order was placed. Keyed by order id, so every event of one order is handled in order. */
@EventType(name = "order.placed", version = 1, stream = "orders")
public record OrderPlaced(String orderId, String customerEmail, String sku, int quantity) implements Event {
    @Override
    public String eventKey() {
        return orderId;
    }
}
