package dev.eventbus.outside;

import dev.eventbus.EventBus;
import dev.eventbus.InMemoryTransport;
import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayNotSupportedException;
import dev.eventbus.ReplayResult;
import dev.eventbus.outside.Events.InvoiceSent;
import dev.eventbus.outside.Events.OrderPlaced;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@link EventBus#replay}: which streams it moves, and its refusals. The transports' own replays are tested in their modules. */
class ReplayTest {

    @Test
    void theInMemoryTransportRefusesAndSaysWhatToUseInstead() {
        try (EventBus bus = EventBus.builder().service("svc").build()) {
            bus.subscribe(OrderPlaced.class, "billing", e -> { });
            assertThatThrownBy(() -> bus.replay("billing", ReplayFrom.beginning()))
                    .isInstanceOf(ReplayNotSupportedException.class)
                    .hasMessageContaining("the memory transport cannot replay")
                    .hasMessageContaining("jdbc transport")
                    .satisfies(e -> assertThat(((ReplayNotSupportedException) e).transport()).isEqualTo("memory"));
        }
    }

    @Test
    void aGroupWithoutSubscriptionsOnThisBusIsAnArgumentError() {
        try (EventBus bus = EventBus.builder().service("svc").build()) {
            bus.subscribe(OrderPlaced.class, "billing", e -> { });
            assertThatThrownBy(() -> bus.replay("shipping", ReplayFrom.beginning()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("group 'shipping' has no subscription on this bus")
                    .hasMessageContaining("[billing]");
        }
    }

    @Test
    void movesEveryStreamOfTheGroupThroughItsTransport() {
        ReplayingTransport replaying = new ReplayingTransport("replaying");
        try (EventBus bus = EventBus.builder().service("svc").transport(replaying).build()) {
            bus.subscribe(OrderPlaced.class, "billing", e -> { });
            bus.subscribe(InvoiceSent.class, "billing", e -> { });
            bus.subscribe(OrderPlaced.class, "other", e -> { });
            ReplayFrom from = ReplayFrom.time(Instant.parse("2026-01-01T00:00:00Z"));
            ReplayResult r = bus.replay("billing", from);
            assertThat(replaying.calls).containsExactly("billing/billing/time 2026-01-01T00:00:00Z",
                    "billing/orders/time 2026-01-01T00:00:00Z");
            assertThat(r.group()).isEqualTo("billing");
            assertThat(r.from()).isEqualTo(from);
            assertThat(r.moves()).extracting(ReplayResult.Move::stream).containsExactly("billing", "orders");
        }
    }

    @Test
    void refusesBeforeMovingAnythingWhenOneOfTheGroupsTransportsCannotReplay() {
        ReplayingTransport replaying = new ReplayingTransport("replaying");
        try (EventBus bus = EventBus.builder().service("svc").transport(replaying)
                .transport("memory", new InMemoryTransport()).routeStream("orders", "memory").build()) {
            bus.subscribe(OrderPlaced.class, "billing", e -> { });
            bus.subscribe(InvoiceSent.class, "billing", e -> { });
            assertThatThrownBy(() -> bus.replay("billing", ReplayFrom.position(3)))
                    .isInstanceOf(ReplayNotSupportedException.class)
                    .hasMessageContaining("the memory transport cannot replay");
            assertThat(replaying.calls).as("the replaying transport's stream was not moved").isEmpty();
        }
    }

    @Test
    void replayFromValidatesAndPrints() {
        assertThat(ReplayFrom.position(7).toString()).isEqualTo("position 7");
        assertThat(ReplayFrom.positions(Map.of(2, 9L, 0, 7L)).positions().keySet()).containsExactly(0, 2);
        assertThat(ReplayFrom.beginning().kind()).isEqualTo(ReplayFrom.Kind.BEGINNING);
        assertThatThrownBy(() -> ReplayFrom.position(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ReplayFrom.positions(Map.of())).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ReplayFrom.positions(Map.of(0, -2L))).isInstanceOf(IllegalArgumentException.class);
    }

    /** An in-memory transport that declares REPLAY and records what it was asked to move. */
    static final class ReplayingTransport implements Transport {
        final InMemoryTransport delegate = new InMemoryTransport();
        final String name;
        final List<String> calls = new CopyOnWriteArrayList<>();

        ReplayingTransport(String name) {
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Set<Capability> capabilities() {
            EnumSet<Capability> c = EnumSet.copyOf(delegate.capabilities());
            c.add(Capability.REPLAY);
            return c;
        }

        @Override
        public CompletableFuture<Void> send(TransportMessage message) {
            return delegate.send(message);
        }

        @Override
        public TransportSubscription subscribe(SubscriptionRequest request, MessageHandler handler) {
            return delegate.subscribe(request, handler);
        }

        @Override
        public ReplayResult replay(String group, String stream, ReplayFrom from) {
            calls.add(group + "/" + stream + "/" + from);
            return new ReplayResult(group, from, List.of(new ReplayResult.Move(name, stream, 0, 10, 3)));
        }

        @Override
        public void close(Duration timeout) {
            delegate.close(timeout);
        }
    }
}
