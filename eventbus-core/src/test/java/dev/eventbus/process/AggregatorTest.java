package dev.eventbus.process;

import dev.eventbus.EventBus;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class AggregatorTest {

    record Registered(String userId, String email) {
    }

    record Verified(String userId) {
    }

    record Profiled(String userId, String name) {
    }

    record Activated(String userId, String email, String name) {
    }

    record Incomplete(String userId, List<String> received) {
    }

    private final EventBus bus = EventBus.builder().service("aggregator-test").build();
    private final List<Object> out = new CopyOnWriteArrayList<>();
    private ProcessManager manager;

    @AfterEach
    void close() {
        if (manager != null) {
            manager.close();
        }
        bus.close();
    }

    private void start(SagaTest.MutableClock clock) {
        bus.subscribe(Activated.class, out::add);
        bus.subscribe(Incomplete.class, out::add);
        AggregatorDefinition def = AggregatorDefinition.builder("activation")
                .collect(Registered.class, Registered::userId)
                .collect(Verified.class, Verified::userId)
                .collect(Profiled.class, Profiled::userId)
                .onComplete(p -> new Activated(p.id(), p.get(Registered.class).email(), p.get(Profiled.class).name()))
                .window(Duration.ofMinutes(10), p -> new Incomplete(p.id(), p.received()))
                .build();
        manager = ProcessManager.builder(bus, new InMemoryProcessStore()).aggregator(def).clock(clock)
                .timeoutPollInterval(Duration.ofHours(1)).build();
    }

    @Test
    void outOfOrderAndDuplicatePartsMakeOneCompositeEvent() {
        start(new SagaTest.MutableClock(Instant.parse("2026-01-01T00:00:00Z")));
        bus.publish(new Profiled("u1", "Ada"));
        bus.publish(new Verified("u1"));
        bus.publish(new Verified("u1"));
        bus.publish(new Profiled("u1", "Not Ada")); // a repeat: the first one counts
        bus.publish(new Verified("u2"));
        assertThat(out).isEmpty();
        bus.publish(new Registered("u1", "ada@example.com"));
        bus.publish(new Registered("u1", "ada@example.com"));
        bus.publish(new Verified("u1"));

        assertThat(out).containsExactly(new Activated("u1", "ada@example.com", "Ada"));
        ProcessView v = manager.status("activation", "u1").orElseThrow();
        assertThat(v.status()).isEqualTo(ProcessStatus.COMPLETED);
        assertThat(v.completed()).containsExactly("Profiled", "Verified", "Registered");
        assertThat(manager.status("activation", "u2").orElseThrow().status()).isEqualTo(ProcessStatus.RUNNING);
        assertThat(manager.stats().applied()).isEqualTo(4);
    }

    @Test
    void theWindowClosesOnceWithAPartialEvent() {
        SagaTest.MutableClock clock = new SagaTest.MutableClock(Instant.parse("2026-01-01T00:00:00Z"));
        start(clock);
        bus.publish(new Registered("u3", "bob@example.com"));
        clock.now = Instant.parse("2026-01-01T00:05:00Z");
        bus.publish(new Verified("u3"));
        assertThat(manager.fireDueTimeouts()).isZero();
        clock.now = Instant.parse("2026-01-01T00:10:01Z");
        assertThat(manager.fireDueTimeouts()).isEqualTo(1);
        assertThat(manager.fireDueTimeouts()).isZero();
        bus.publish(new Profiled("u3", "Bob")); // too late

        assertThat(out).containsExactly(new Incomplete("u3", List.of("Registered", "Verified")));
        assertThat(manager.status("activation", "u3").orElseThrow().status()).isEqualTo(ProcessStatus.TIMED_OUT);
    }

    @Test
    void definitionsFailAtBuildWithASentence() {
        assertThatThrownBy(() -> AggregatorDefinition.builder("a").collect(Verified.class, Verified::userId)
                .onComplete(p -> p).build()).hasMessageContaining("at least two");
        assertThatThrownBy(() -> AggregatorDefinition.builder("a").collect(Verified.class, Verified::userId)
                .collect(Verified.class)).hasMessageContaining("twice");
        assertThatThrownBy(() -> AggregatorDefinition.builder("a").collect(Verified.class)
                .collect(Registered.class).build()).hasMessageContaining("no onComplete");
    }
}
