package dev.eventbus.kafka;

import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportSubscription;
import dev.eventbus.testkit.TransportContract;

import java.time.Duration;
import java.util.List;

/** The Kafka transport passes the shared transport contract against a real broker (retry topics on). */
class KafkaTransportContractTest extends TransportContract {

    @Override
    protected Transport newTransport() {
        return KafkaTestSupport.transport("contract");
    }

    @Override
    protected Duration timeout() {
        return Duration.ofSeconds(30);
    }

    @Override
    protected void awaitSubscriptionsReady(Transport transport, List<TransportSubscription> subscriptions) {
        subscriptions.forEach(KafkaTestSupport::awaitAssigned);
    }
}
