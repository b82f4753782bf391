package dev.eventbus.kafka;

import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportSubscription;
import dev.eventbus.testkit.TransportContract;

import java.util.List;

/**
 * The transport contract again with {@code retry-topics=false} (delayed retries wait in memory while holding back
 * the partition's commit) and the structured CloudEvents mode, so both alternatives keep the contract.
 */
class KafkaInMemoryRetryContractTest extends TransportContract {

    @Override
    protected Transport newTransport() {
        return KafkaTransport.create(KafkaTestSupport.config("contract-mem")
                .set(KafkaConfig.RETRY_TOPICS, "false")
                .set(KafkaConfig.BINDING_MODE, "structured")
                .build());
    }

    @Override
    protected void awaitSubscriptionsReady(Transport transport, List<TransportSubscription> subscriptions) {
        subscriptions.forEach(KafkaTestSupport::awaitAssigned);
    }
}
