package dev.eventbus;

import dev.eventbus.spi.Transport;
import dev.eventbus.testkit.TransportContract;
import org.junit.jupiter.api.BeforeEach;

import java.time.Duration;

/** The in-memory transport passes the shared transport contract. */
class InMemoryTransportContractTest extends TransportContract {

    private InMemoryTransport first;

    @BeforeEach
    void freshBroker() {
        first = null;
    }

    @Override
    protected Transport newTransport() {
        // Later instances share the first one's broker, as two application instances share one Kafka cluster.
        if (first == null) {
            first = new InMemoryTransport(8, 256, OverflowPolicy.BLOCK, Duration.ofSeconds(5));
            return first;
        }
        return first.newInstance();
    }
}
