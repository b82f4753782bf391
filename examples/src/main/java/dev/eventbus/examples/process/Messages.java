package dev.eventbus.examples.process;

import dev.eventbus.Event;

/** The commands and events of the order saga and the user-activation aggregator. */
public final class Messages {

    private Messages() {
    }

    /** Starts the order saga. */
    public record OrderPlaced(String orderId, String sku, int quantity, int amountCents) implements Event {
        @Override
        public String eventKey() {
            return orderId;
        }
    }

    public record ReserveStock(String orderId, String sku, int quantity) {
    }

    public record StockReserved(String orderId) {
    }

    public record OutOfStock(String orderId) {
    }

    public record ReleaseStock(String orderId, String sku, int quantity) {
    }

    public record ChargePayment(String orderId, int amountCents) {
    }

    public record PaymentCharged(String orderId) {
    }

    public record PaymentDeclined(String orderId, String reason) {
    }

    public record ShipOrder(String orderId) {
    }

    public record OrderShipped(String orderId) {
    }

    public record OrderConfirmed(String orderId) {
    }

    public record OrderCancelled(String orderId) {
    }

    public record UserRegistered(String userId, String email) {
    }

    public record EmailVerified(String userId) {
    }

    public record ProfileCompleted(String userId, String displayName) {
    }

    /** The composite event: published once all three parts arrived. */
    public record UserActivated(String userId, String email, String displayName) {
    }
}
