package dev.eventbus.examples.spring;

import org.springframework.boot.ApplicationRunner;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;

import java.time.Duration;

/**
 * An order service: {@link OrderService#placeOrder} writes the order and its event in one transaction through the
 * outbox; the starter's relay delivers committed events to {@link Shipping}. Runs on H2 and the in-memory transport
 * by default; pass {@code --eventbus.transport=jdbc} (the database as the broker), or {@code kafka}/{@code rabbitmq}
 * with their {@code eventbus.kafka.bootstrap.servers} / {@code eventbus.rabbitmq.uri}.
 *
 * <p>Run: {@code mvn -ntp -q -pl examples-spring-boot -am package -DskipTests && mvn -ntp -q -pl examples-spring-boot exec:java}
 * (see the module README).
 */
@SpringBootApplication
public class OrderServiceApplication {

    public static void main(String[] args) {
        try (ConfigurableApplicationContext context = SpringApplication.run(OrderServiceApplication.class, args)) {
            Shipping shipping = context.getBean(Shipping.class);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (shipping.shipped().size() < 2 && System.nanoTime() < deadline) {
                sleep();
            }
            System.out.println("orders in the database: " + context.getBean(OrderService.class).orderCount()
                    + ", shipped: " + shipping.shipped());
        }
    }

    /** Places two good orders and one that fails after its writes (rolled back: no row, no event). */
    @Bean
    ApplicationRunner placeOrders(OrderService orders) {
        return args -> {
            orders.placeOrder("o-1", "ada", 4200);
            orders.placeOrder("o-2", "grace", 1999);
            try {
                orders.placeOrder("o-3", "linus", 0);
            } catch (IllegalArgumentException e) {
                System.out.println("rolled back: " + e.getMessage());
            }
        };
    }

    private static void sleep() {
        try {
            Thread.sleep(50);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
