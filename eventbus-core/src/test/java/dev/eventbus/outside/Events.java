package dev.eventbus.outside;

import dev.eventbus.Event;
import dev.eventbus.EventType;

/** Event types shared by the public-API tests. */
final class Events {
    private Events() {
    }

    interface OrderEvent {
        String orderId();
    }

    @EventType(name = "order.placed", version = 1, stream = "orders")
    record OrderPlaced(String orderId, long cents) implements OrderEvent, Event {
        @Override
        public String eventKey() {
            return orderId;
        }
    }

    @EventType(name = "order.shipped", stream = "orders")
    record OrderShipped(String orderId) implements OrderEvent, Event {
        @Override
        public String eventKey() {
            return orderId;
        }
    }

    @EventType(name = "invoice.sent", stream = "billing")
    record InvoiceSent(String orderId, long cents) {
    }

    record Unannotated(String text) {
    }
}
