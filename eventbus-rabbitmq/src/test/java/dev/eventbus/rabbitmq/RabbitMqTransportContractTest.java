package dev.eventbus.rabbitmq;

import dev.eventbus.rabbitmq.internal.GroupSubscription;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportSubscription;
import dev.eventbus.testkit.TransportContract;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import java.time.Duration;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The RabbitMQ transport passes the shared transport contract against the real server. */
class RabbitMqTransportContractTest extends TransportContract {

    private static RabbitMqTestSupport support;

    @BeforeAll
    static void broker() {
        RabbitMqTestSupport.requireBroker();
        support = new RabbitMqTestSupport();
    }

    @AfterAll
    static void cleanUp() {
        support.cleanUp();
    }

    @Override
    protected Transport newTransport() {
        return support.transport();
    }

    @Override
    protected void awaitSubscriptionsReady(Transport transport, List<TransportSubscription> subscriptions) {
        for (TransportSubscription s : subscriptions) {
            assertThat(((GroupSubscription) s).awaitBalanced(Duration.ofSeconds(10)))
                    .as("shards balanced between the group's instances").isTrue();
        }
    }
}
