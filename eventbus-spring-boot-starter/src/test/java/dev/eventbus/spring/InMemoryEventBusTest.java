package dev.eventbus.spring;

import dev.eventbus.EventBus;
import dev.eventbus.spring.TestSupport.Inventory;
import dev.eventbus.spring.TestSupport.OrderPlaced;
import org.junit.jupiter.api.Test;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.context.annotation.Bean;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A user's {@code @SpringBootTest} whose application is configured for Kafka (at an address where nothing
 * listens) and a route to RabbitMQ: {@link InMemoryEventBus} swaps in the in-memory transport, so it needs no broker.
 */
@SpringBootTest(classes = InMemoryEventBusTest.App.class, properties = {
        "eventbus.transport=kafka",
        "eventbus.kafka.bootstrap.servers=127.0.0.1:1",
        "eventbus.route.stream.tasks=rabbitmq",
        "eventbus.rabbitmq.uri=amqp://nobody:nothing@127.0.0.1:1/",
        "eventbus.retry.max-attempts=3"})
@InMemoryEventBus
class InMemoryEventBusTest {

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class App {
        @Bean
        Inventory inventory() {
            return new Inventory();
        }
    }

    @Autowired
    EventBus bus;

    @Autowired
    Inventory inventory;

    @Test
    void theBusRunsInMemoryWhateverTheApplicationConfigures() {
        assertThat(bus.transport("memory").name()).isEqualTo("memory");
        assertThatThrownBy(() -> bus.transport("kafka")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> bus.transport("rabbitmq")).isInstanceOf(IllegalArgumentException.class);

        bus.publish(new OrderPlaced("t-1", 3)).join();
        assertThat(inventory.count("t-1")).isEqualTo(1);
    }
}
