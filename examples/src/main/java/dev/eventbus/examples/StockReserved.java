package dev.eventbus.examples;

import dev.eventbus.Event;
import dev.eventbus.EventType;

/** Inventory set stock aside for an order; published by a handler, so it carries the order's correlation id. */
@EventType(name = "stock.reserved", version = 1, stream = "orders")
public record StockReserved(String orderId, String sku, int quantity) implements Event {
    @Override
    public String eventKey() {
        return orderId;
    }
}
