package dev.eventbus.examples.spring;

import dev.eventbus.spring.InMemoryEventBus;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.context.SpringBootTest;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The example as a user would test it: @SpringBootTest with the in-memory bus, the real outbox on H2. */
@SpringBootTest(properties = {"spring.datasource.url=jdbc:h2:mem:orders-test;DB_CLOSE_DELAY=-1",
        "eventbus.transport=kafka", "eventbus.kafka.bootstrap.servers=127.0.0.1:1"})
@InMemoryEventBus
class OrderServiceApplicationTest {

    @Autowired
    OrderService orders;

    @Autowired
    Shipping shipping;

    @Test
    void committedOrdersAreShippedOnceAndAFailedOneNever() throws InterruptedException {
        // The demo runner placed o-1, o-2 and the failing o-3 at startup.
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (shipping.shipped().size() < 2 && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(shipping.shipped()).containsExactlyInAnyOrder("o-1", "o-2");
        assertThat(orders.orderCount()).isEqualTo(2);

        assertThatThrownBy(() -> orders.placeOrder("o-4", "x", -1)).isInstanceOf(IllegalArgumentException.class);
        orders.placeOrder("o-5", "y", 10);
        while (!shipping.shipped().contains("o-5") && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        Thread.sleep(500);
        assertThat(shipping.shipped()).containsExactlyInAnyOrder("o-1", "o-2", "o-5");
        assertThat(orders.orderCount()).isEqualTo(3);
    }
}
