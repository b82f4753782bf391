package dev.eventbus;

import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/** What the bus asks of its transports for batch subscribers and filters (push-down). */
class SubscriptionRequestsTest {

    interface Shipment {
    }

    @EventType(name = "shipment.sent", stream = "shipments")
    record Sent(String id) implements Shipment {
    }

    @EventType(name = "shipment.lost", stream = "shipments")
    record Lost(String id) implements Shipment {
    }

    /** Records every request, delegating to an in-memory transport. */
    static final class Recording implements Transport {
        final InMemoryTransport delegate = new InMemoryTransport(4, 64, OverflowPolicy.BLOCK, Duration.ofSeconds(1));
        final List<SubscriptionRequest> requests = new CopyOnWriteArrayList<>();

        @Override
        public String name() {
            return "recording";
        }

        @Override
        public Set<Capability> capabilities() {
            return delegate.capabilities();
        }

        @Override
        public CompletableFuture<Void> send(TransportMessage message) {
            return delegate.send(message);
        }

        @Override
        public TransportSubscription subscribe(SubscriptionRequest request, MessageHandler handler) {
            requests.add(request);
            return delegate.subscribe(request, handler);
        }

        @Override
        public void close(Duration timeout) {
            delegate.close(timeout);
        }
    }

    static final class Lost1 {
        @Subscribe(group = "claims", filter = "type = shipment.lost and region = eu")
        void on(Shipment s) {
        }
    }

    static final class Batcher {
        @Subscribe(group = "claims", batchSize = 50)
        void on(List<Sent> batch) {
        }
    }

    @Test
    void aTypeFilterNarrowsTheTypesAndTheGroupsFilterAndBatchSizeTravelInTheRequest() {
        Recording t = new Recording();
        EventBus bus = EventBus.builder().service("requests").transport(t).eventType(Sent.class)
                .eventType(Lost.class).build();
        bus.register(new Lost1());
        SubscriptionRequest first = t.requests.get(t.requests.size() - 1);
        assertThat(first.types()).containsExactly("shipment.lost");
        assertThat(first.filter()).isEqualTo(Filter.parse("type = shipment.lost and region = eu"));
        assertThat(first.batchSize()).isZero();

        // A batch subscriber joins the group on the same stream: the subscription is made again, deferring outcomes,
        // and the group's filter is now the union (everything, since the batch subscriber has none).
        bus.register(new Batcher());
        SubscriptionRequest second = t.requests.get(t.requests.size() - 1);
        assertThat(second).isNotSameAs(first);
        assertThat(second.types()).containsExactlyInAnyOrder("shipment.lost", "shipment.sent");
        assertThat(second.batchSize()).isEqualTo(50);
        assertThat(second.deferredOutcomes()).isTrue();
        assertThat(second.filter()).isNull();
        bus.close();
    }
}
