package dev.eventbus.benchmarks.rabbitmq;

import dev.eventbus.EventType;

/** The event the RabbitMQ throughput harness publishes (about 100 bytes of JSON). */
@EventType(name = "bench.order", stream = "bench")
public record BenchOrder(String orderId, String customer, String sku, int quantity, long amountCents) {
}
