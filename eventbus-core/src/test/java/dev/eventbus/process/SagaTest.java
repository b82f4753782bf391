package dev.eventbus.process;

import dev.eventbus.Event;
import dev.eventbus.EventBus;
import dev.eventbus.Subscribe;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class SagaTest {

    record Start(String id, boolean failPayment, boolean failShipping) {
    }

    record Reserve(String id) {
    }

    record Release(String id) {
    }

    record Reserved(String id, String eventId) implements Event {
        @Override
        public String eventId() {
            return eventId;
        }
    }

    record Charge(String id) {
    }

    record Refund(String id) {
    }

    record Charged(String id) {
    }

    record Declined(String id) {
    }

    record Ship(String id) {
    }

    record Shipped(String id) {
    }

    record ShippingFailed(String id) {
    }

    record Done(String id) {
    }

    record Undone(String id) {
    }

    /** Replies as told; records every command in arrival order. */
    static final class Participants {
        final List<Object> commands = new CopyOnWriteArrayList<>();
        final EventBus bus;
        volatile boolean replyToReserve = true;

        Participants(EventBus bus) {
            this.bus = bus;
        }

        @Subscribe
        void on(Reserve c) {
            commands.add(c);
            if (replyToReserve) {
                bus.publish(new Reserved(c.id(), null));
            }
        }

        @Subscribe
        void on(Charge c) {
            commands.add(c);
            bus.publish(c.id().startsWith("fail-pay") ? new Declined(c.id()) : new Charged(c.id()));
        }

        @Subscribe
        void on(Ship c) {
            commands.add(c);
            bus.publish(c.id().startsWith("fail-ship") ? new ShippingFailed(c.id()) : new Shipped(c.id()));
        }

        @Subscribe
        void on(Release c) {
            commands.add(c);
        }

        @Subscribe
        void on(Refund c) {
            commands.add(c);
        }

        @Subscribe
        void on(Done e) {
            commands.add(e);
        }

        @Subscribe
        void on(Undone e) {
            commands.add(e);
        }

        long count(Class<?> type) {
            return commands.stream().filter(type::isInstance).count();
        }
    }

    static SagaDefinition<Start> saga(Duration reserveTimeout) {
        SagaDefinition.Builder<Start> b = SagaDefinition.builder("test-saga", Start.class, Start::id)
                .step("reserve", s -> new Reserve(s.id()))
                .completedBy(Reserved.class, Reserved::id)
                .compensateWith(s -> new Release(s.id()));
        if (reserveTimeout != null) {
            b.timeout(reserveTimeout);
        }
        return b.step("charge", s -> new Charge(s.id()))
                .completedBy(Charged.class, Charged::id)
                .failedBy(Declined.class, Declined::id)
                .compensateWith(s -> new Refund(s.id()))
                .step("ship", s -> new Ship(s.id()))
                .completedBy(Shipped.class, Shipped::id)
                .failedBy(ShippingFailed.class, ShippingFailed::id)
                .onCompleted(s -> new Done(s.id()))
                .onCompensated(s -> new Undone(s.id()))
                .build();
    }

    private final EventBus bus = EventBus.builder().service("saga-test").build();
    private final Participants participants = new Participants(bus);
    private ProcessManager manager;

    @AfterEach
    void close() {
        if (manager != null) {
            manager.close();
        }
        bus.close();
    }

    private ProcessManager start(ProcessManager.Builder b) {
        bus.register(participants);
        manager = b.build();
        return manager;
    }

    @Test
    void allStepsCompleteInOrder() {
        start(ProcessManager.builder(bus, new InMemoryProcessStore()).saga(saga(null)));
        bus.publish(new Start("ok-1", false, false));

        assertThat(participants.commands).containsExactly(new Reserve("ok-1"), new Charge("ok-1"), new Ship("ok-1"),
                new Done("ok-1"));
        ProcessView v = manager.status("test-saga", "ok-1").orElseThrow();
        assertThat(v.status()).isEqualTo(ProcessStatus.COMPLETED);
        assertThat(v.completed()).containsExactly("reserve", "charge", "ship");
        assertThat(v.compensated()).isEmpty();
        assertThat(v.version()).isEqualTo(4);
        assertThat(v.history()).hasSize(8).anyMatch(h -> h.endsWith("charge: completed by Charged"));
    }

    @Test
    void aFailedStepCompensatesTheCompletedStepsInReverseOrder() {
        start(ProcessManager.builder(bus, new InMemoryProcessStore()).saga(saga(null)));
        bus.publish(new Start("fail-ship-1", false, true));

        assertThat(participants.commands).containsExactly(new Reserve("fail-ship-1"), new Charge("fail-ship-1"),
                new Ship("fail-ship-1"), new Refund("fail-ship-1"), new Release("fail-ship-1"),
                new Undone("fail-ship-1"));
        ProcessView v = manager.status("test-saga", "fail-ship-1").orElseThrow();
        assertThat(v.status()).isEqualTo(ProcessStatus.COMPENSATED);
        assertThat(v.completed()).containsExactly("reserve", "charge");
        assertThat(v.compensated()).containsExactly("charge", "reserve");
    }

    @Test
    void aFailedPaymentReleasesTheStockOnly() {
        start(ProcessManager.builder(bus, new InMemoryProcessStore()).saga(saga(null)));
        bus.publish(new Start("fail-pay-1", true, false));

        assertThat(participants.commands).containsExactly(new Reserve("fail-pay-1"), new Charge("fail-pay-1"),
                new Release("fail-pay-1"), new Undone("fail-pay-1"));
        assertThat(manager.status("test-saga", "fail-pay-1").orElseThrow().compensated()).containsExactly("reserve");
    }

    @Test
    void theSameReplyDeliveredTwiceIsAppliedOnce() {
        participants.replyToReserve = false;
        start(ProcessManager.builder(bus, new InMemoryProcessStore()).saga(saga(null)));
        bus.publish(new Start("dup-1", false, false));
        assertThat(participants.commands).containsExactly(new Reserve("dup-1"));

        Reserved reply = new Reserved("dup-1", "0190f0c0-0000-7000-8000-000000000001");
        bus.publish(reply);
        bus.publish(reply); // a redelivery: the same message id
        bus.publish(new Reserved("dup-1", null)); // the same reply again under another id: stale for the saga

        assertThat(participants.count(Charge.class)).isEqualTo(1);
        assertThat(participants.count(Ship.class)).isEqualTo(1);
        // the saga had moved on, so both are stale for it before the store's message-id check is needed
        assertThat(manager.stats().duplicates() + manager.stats().ignored()).isEqualTo(2);
        assertThat(manager.stats().applied()).isEqualTo(4);
        assertThat(manager.status("test-saga", "dup-1").orElseThrow().status()).isEqualTo(ProcessStatus.COMPLETED);
    }

    @Test
    void aReplyRedeliveredByTheTransportIsAppliedOnce() throws InterruptedException {
        participants.replyToReserve = false;
        start(ProcessManager.builder(bus, new InMemoryProcessStore()).saga(saga(null)));
        bus.publish(new Start("redelivered-1", false, false));

        // the same wire message (same id) handed over twice, as a broker redelivers after a lost acknowledgement
        var message = bus.messageFor(new Reserved("redelivered-1", null), dev.eventbus.PublishOptions.none());
        bus.transport("memory").send(message).join();
        bus.transport("memory").send(message).join();
        Waits.until(Duration.ofSeconds(10), () -> participants.count(Done.class) == 1);
        Thread.sleep(200);

        assertThat(participants.commands).containsExactly(new Reserve("redelivered-1"), new Charge("redelivered-1"),
                new Ship("redelivered-1"), new Done("redelivered-1"));
        assertThat(manager.stats().duplicates() + manager.stats().ignored()).isEqualTo(1);
    }

    @Test
    void aDuplicateStartEventStartsNothing() {
        start(ProcessManager.builder(bus, new InMemoryProcessStore()).saga(saga(null)));
        bus.publish(new Start("ok-2", false, false));
        bus.publish(new Start("ok-2", false, false));

        assertThat(participants.count(Reserve.class)).isEqualTo(1);
        assertThat(participants.count(Done.class)).isEqualTo(1);
    }

    @Test
    void aTimeoutFiresOnceAndALateReplyIsCompensatedToo() {
        MutableClock clock = new MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
        participants.replyToReserve = false;
        start(ProcessManager.builder(bus, new InMemoryProcessStore()).saga(saga(Duration.ofSeconds(30)))
                .clock(clock).timeoutPollInterval(Duration.ofHours(1)));
        bus.publish(new Start("slow-1", false, false));
        assertThat(manager.status("test-saga", "slow-1").orElseThrow().deadline())
                .isEqualTo(Instant.parse("2026-01-01T00:00:30Z"));

        clock.now = Instant.parse("2026-01-01T00:00:29Z");
        assertThat(manager.fireDueTimeouts()).isZero();
        clock.now = Instant.parse("2026-01-01T00:00:31Z");
        assertThat(manager.fireDueTimeouts()).isEqualTo(1);
        assertThat(manager.fireDueTimeouts()).isZero();
        assertThat(manager.stats().timeouts()).isEqualTo(1);

        ProcessView v = manager.status("test-saga", "slow-1").orElseThrow();
        assertThat(v.status()).isEqualTo(ProcessStatus.COMPENSATED);
        assertThat(v.deadline()).isNull();
        assertThat(v.compensated()).isEmpty(); // nothing had completed
        assertThat(participants.count(Release.class)).isZero();
        assertThat(participants.count(Charge.class)).isZero();

        bus.publish(new Reserved("slow-1", null)); // the stock was reserved after all: undo it
        bus.publish(new Reserved("slow-1", null));
        assertThat(participants.count(Release.class)).isEqualTo(1);
        assertThat(participants.count(Charge.class)).isZero();
        assertThat(manager.status("test-saga", "slow-1").orElseThrow().compensated()).containsExactly("reserve");
    }

    @Test
    void aDelayedTimeoutMessageAndThePollerFireATimeoutOnce() throws InterruptedException {
        participants.replyToReserve = false;
        start(ProcessManager.builder(bus, new InMemoryProcessStore()).saga(saga(Duration.ofMillis(200)))
                .delayedTimeouts(true).timeoutPollInterval(Duration.ofMillis(20)));
        for (int i = 0; i < 20; i++) {
            bus.publish(new Start("race-" + i, false, false));
        }
        Waits.until(Duration.ofSeconds(10), () -> manager.stats().timeouts() == 20);
        Thread.sleep(500); // both the delayed messages and the poller had their chance to fire again
        assertThat(manager.stats().timeouts()).isEqualTo(20);
        assertThat(participants.count(Undone.class)).isEqualTo(20);
        for (int i = 0; i < 20; i++) {
            assertThat(manager.status("test-saga", "race-" + i).orElseThrow().status())
                    .isEqualTo(ProcessStatus.COMPENSATED);
        }
    }

    @Test
    void aStaleVersionIsAConflict() {
        InMemoryProcessStore store = new InMemoryProcessStore();
        ProcessInstance first = new ProcessInstance("t", "1", 1, "RUNNING", "{}", null, Instant.now());
        assertThat(store.commit(first, "m1", List.of())).isEqualTo(ProcessStore.CommitResult.COMMITTED);
        assertThatThrownBy(() -> store.commit(first, "m2", List.of())).isInstanceOf(ProcessConflictException.class);
        ProcessInstance second = new ProcessInstance("t", "1", 2, "RUNNING", "{}", null, Instant.now());
        assertThat(store.commit(second, "m1", List.of())).isEqualTo(ProcessStore.CommitResult.DUPLICATE);
        assertThat(store.commit(second, "m2", List.of())).isEqualTo(ProcessStore.CommitResult.COMMITTED);
        assertThatThrownBy(() -> store.commit(second, "m3", List.of())).isInstanceOf(ProcessConflictException.class)
                .hasMessageContaining("version 2, expected 1");
    }

    @Test
    void definitionsFailAtBuildWithASentence() {
        assertThatThrownBy(() -> SagaDefinition.builder("s", Start.class, Start::id).build())
                .hasMessageContaining("has no step");
        assertThatThrownBy(() -> SagaDefinition.builder("s", Start.class, Start::id).step("a", s -> s).build())
                .hasMessageContaining("step 'a' has no completedBy");
        assertThatThrownBy(() -> SagaDefinition.builder("s", Start.class, Start::id).completedBy(Charged.class))
                .hasMessageContaining("call step(name, action) first");
        assertThatThrownBy(() -> SagaDefinition.builder("s", Start.class, Start::id)
                .step("a", s -> s).completedBy(Charged.class).step("b", s -> s).completedBy(Charged.class).build())
                .hasMessageContaining("uses " + Charged.class.getName() + " twice");
    }

    static final class MutableClock extends Clock {
        volatile Instant now;

        MutableClock(Instant now) {
            this.now = now;
        }

        @Override
        public ZoneOffset getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(java.time.ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }
    }
}
