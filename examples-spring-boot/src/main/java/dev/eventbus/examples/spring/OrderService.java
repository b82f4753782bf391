package dev.eventbus.examples.spring;

import dev.eventbus.PublishOptions;
import dev.eventbus.spring.TransactionalOutbox;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.stereotype.Service;
import org.springframework.transaction.annotation.Transactional;

/** Places orders: the order row and its OrderPlaced event commit together, or not at all. */
@Service
public class OrderService {

    private final JdbcTemplate jdbc;
    private final TransactionalOutbox outbox;

    public OrderService(JdbcTemplate jdbc, TransactionalOutbox outbox) {
        this.jdbc = jdbc;
        this.outbox = outbox;
    }

    @Transactional
    public void placeOrder(String orderId, String customer, long totalCents) {
        jdbc.update("INSERT INTO orders (id, customer, total_cents) VALUES (?, ?, ?)", orderId, customer, totalCents);
        outbox.publish(new OrderPlaced(orderId, customer, totalCents), PublishOptions.builder().key(orderId).build());
        if (totalCents <= 0) {
            // Thrown after both writes: the rollback removes the order row and the outbox row alike.
            throw new IllegalArgumentException("order " + orderId + " has no positive total");
        }
    }

    public long orderCount() {
        Long n = jdbc.queryForObject("SELECT COUNT(*) FROM orders", Long.class);
        return n == null ? 0 : n;
    }
}
