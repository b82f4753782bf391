package dev.eventbus.store;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.Upcaster;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class InMemoryEventStoreTest {

    @EventType(name = "test.opened", stream = "accounts")
    record Opened(String owner) {
    }

    @EventType(name = "test.deposited", stream = "accounts")
    record Deposited(long cents) {
    }

    /** Version 1 of a renamed field, as an old release wrote it. */
    @EventType(name = "test.renamed", version = 1, stream = "accounts")
    record RenamedV1(String name) {
    }

    /** Version 2 of the same wire type, as the current release reads it. */
    @EventType(name = "test.renamed", version = 2, stream = "accounts")
    record RenamedV2(String fullName) {
    }

    record Account(String owner, long balance) {
        static Account empty() {
            return new Account(null, 0);
        }

        Account apply(Object e) {
            if (e instanceof Opened o) {
                return new Account(o.owner(), balance);
            }
            if (e instanceof Deposited d) {
                return new Account(owner, balance + d.cents());
            }
            return this;
        }
    }

    private final List<EventBus> buses = new ArrayList<>();

    @AfterEach
    void close() {
        buses.forEach(EventBus::close);
    }

    private EventBus bus(EventBus.Builder b) {
        EventBus bus = b.service("store-test").eventType(Opened.class).eventType(Deposited.class).build();
        buses.add(bus);
        return bus;
    }

    private InMemoryEventStore store() {
        return new InMemoryEventStore(bus(EventBus.builder()));
    }

    @Test
    void appendsCheckTheExpectedVersionAndNameStreamExpectedAndActualOnConflict() {
        InMemoryEventStore store = store();
        assertThat(store.append("a-1", ExpectedVersion.noStream(), List.of(new Opened("ann")))).isEqualTo(1);
        assertThat(store.append("a-1", ExpectedVersion.exactly(1), List.of(new Deposited(5), new Deposited(7))))
                .isEqualTo(3);
        assertThat(store.append("a-1", ExpectedVersion.any(), List.of(new Deposited(1)))).isEqualTo(4);
        assertThat(store.append("a-2", ExpectedVersion.any(), List.of(new Opened("bob")))).isEqualTo(1);

        assertThatThrownBy(() -> store.append("a-1", ExpectedVersion.exactly(3), List.of(new Deposited(1))))
                .isInstanceOfSatisfying(ConcurrencyException.class, e -> {
                    assertThat(e.streamId()).isEqualTo("a-1");
                    assertThat(e.expected()).isEqualTo(ExpectedVersion.exactly(3));
                    assertThat(e.actual()).isEqualTo(4);
                    assertThat(e.getMessage()).contains("a-1", "version 4", "expected 3");
                });
        assertThatThrownBy(() -> store.append("a-1", ExpectedVersion.noStream(), List.of(new Opened("x"))))
                .isInstanceOf(ConcurrencyException.class).hasMessageContaining("no stream");
        assertThatThrownBy(() -> store.append("a-3", ExpectedVersion.exactly(2), List.of(new Opened("x"))))
                .isInstanceOfSatisfying(ConcurrencyException.class, e -> assertThat(e.actual()).isZero());
        assertThatThrownBy(() -> store.append("a-3", ExpectedVersion.any(), List.of()))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(store.streamVersion("a-1")).isEqualTo(4);
        assertThat(store.streamVersion("a-3")).isZero();
        assertThat(store.headPosition()).isEqualTo(5);
    }

    @Test
    void readsCarryThePublishedEnvelopeWithTheStreamIdAsSubject() {
        InMemoryEventStore store = store();
        store.append("a-1", ExpectedVersion.noStream(), List.of(new Opened("ann"), new Deposited(5)));
        store.append("a-2", ExpectedVersion.noStream(), List.of(new Opened("bob")));
        store.append("a-1", ExpectedVersion.exactly(2), List.of(new Deposited(6)));

        List<RecordedEvent<?>> a1 = store.read("a-1", 1);
        assertThat(a1).extracting(RecordedEvent::version).containsExactly(1L, 2L, 3L);
        assertThat(a1).extracting(RecordedEvent::position).containsExactly(1L, 2L, 4L);
        assertThat(a1).extracting(r -> (Object) r.event())
                .containsExactly(new Opened("ann"), new Deposited(5), new Deposited(6));
        RecordedEvent<?> first = a1.get(0);
        assertThat(first.envelope().subject()).isEqualTo("a-1");
        assertThat(first.envelope().type()).isEqualTo("test.opened");
        assertThat(first.envelope().stream()).isEqualTo("accounts");
        assertThat(first.envelope().source()).isEqualTo("urn:eventbus:store-test");
        assertThat(first.envelope().time()).isNotNull();
        assertThat(first.envelope().id()).isNotBlank().isNotEqualTo(a1.get(1).envelope().id());
        assertThat(store.read("a-1", 3)).extracting(r -> (Object) r.event()).containsExactly(new Deposited(6));
        assertThat(store.read("nope", 1)).isEmpty();

        assertThat(store.readAll(1, 100)).extracting(RecordedEvent::streamId).containsExactly("a-1", "a-1", "a-2", "a-1");
        assertThat(store.readAll(2, 2)).extracting(RecordedEvent::position).containsExactly(2L, 3L);
        assertThat(store.readAll(5, 10)).isEmpty();
    }

    @Test
    void anAppendFromAHandlerIsCausedByTheEventBeingHandled() {
        EventBus bus = bus(EventBus.builder());
        InMemoryEventStore store = new InMemoryEventStore(bus);
        AtomicReference<String> cause = new AtomicReference<>();
        AtomicReference<String> correlation = new AtomicReference<>();
        bus.subscribe(Opened.class, (dev.eventbus.EventHandler<Opened>) o -> {
        });
        bus.register(new Object() {
            @dev.eventbus.Subscribe
            void on(dev.eventbus.Envelope<Opened> e) {
                cause.set(e.id());
                correlation.set(e.correlationId());
                store.append("a-9", ExpectedVersion.any(), List.of(new Deposited(1)));
            }
        });
        bus.publish(new Opened("zoe")).join();
        RecordedEvent<?> appended = store.read("a-9", 1).get(0);
        assertThat(appended.envelope().causationId()).isEqualTo(cause.get()).isNotNull();
        assertThat(appended.envelope().correlationId()).isEqualTo(correlation.get());
    }

    @Test
    void upcastersApplyWhenANewerReleaseReadsOldEvents() {
        EventBus oldRelease = bus(EventBus.builder().eventType(RenamedV1.class));
        InMemoryEventStore written = new InMemoryEventStore(oldRelease);
        written.append("r-1", ExpectedVersion.noStream(), List.of(new RenamedV1("Ann Lee")));

        EventBus newRelease = bus(EventBus.builder().eventType(RenamedV2.class)
                .upcaster(Upcaster.of("test.renamed", 1, json -> (ObjectNode) json.put("fullName",
                        json.remove("name").asText()))));
        InMemoryEventStore read = written.readingWith(newRelease);
        RecordedEvent<?> e = read.read("r-1", 1).get(0);
        assertThat(e.event()).isEqualTo(new RenamedV2("Ann Lee"));
        assertThat(e.envelope().version()).isEqualTo(2);
        assertThat(read.readAll(1, 10)).extracting(r -> (Object) r.event()).containsExactly(new RenamedV2("Ann Lee"));
    }

    @Test
    void manyThreadsAppendingToOneStreamHaveExactlyOneWinnerPerVersion() throws Exception {
        InMemoryEventStore store = store();
        int threads = 8;
        int rounds = 200;
        ConcurrencyHarness.Result r = ConcurrencyHarness.race(store, "hot", threads, rounds);
        assertThat(r.winners()).hasSize(rounds);
        assertThat(r.losers()).isEqualTo((long) threads * rounds - rounds);
        assertThat(store.read("hot", 1)).extracting(RecordedEvent::version)
                .containsExactlyElementsOf(java.util.stream.LongStream.rangeClosed(1, rounds).boxed().toList());
    }

    @Test
    void theAggregateRepositoryFoldsSavesWithTheLoadedVersionAndSnapshots() {
        InMemoryEventStore store = store();
        AggregateRepository<Account> repo = AggregateRepository.builder(store, Account::empty, Account::apply)
                .snapshotEvery(3, Account.class).build();
        Aggregate<Account> a = repo.load("acc-1");
        assertThat(a.isNew()).isTrue();
        a = repo.save(a, new Opened("ann"), new Deposited(10));
        assertThat(a.version()).isEqualTo(2);
        assertThat(store.loadSnapshot("acc-1", Account.class)).isEmpty();
        a = repo.save(a, new Deposited(5));
        assertThat(store.loadSnapshot("acc-1", Account.class)).get()
                .isEqualTo(new Snapshot<>("acc-1", 3, new Account("ann", 15)));
        Aggregate<Account> stale = repo.load("acc-1");
        repo.save(repo.load("acc-1"), new Deposited(1));
        assertThatThrownBy(() -> repo.save(stale, new Deposited(2))).isInstanceOf(ConcurrencyException.class);

        Aggregate<Account> loaded = repo.load("acc-1");
        assertThat(loaded.state()).isEqualTo(new Account("ann", 16));
        assertThat(loaded.version()).isEqualTo(4);
        Aggregate<Account> updated = repo.update("acc-1", 3, ag -> List.of(new Deposited(ag.state().balance())));
        assertThat(updated.state().balance()).isEqualTo(32);
        assertThat(store.loadSnapshot("acc-1", String.class)).isEmpty();
    }

    @Test
    void aProjectionSeesEveryEventOnceInOrderAndARebuildGivesTheSameModel() throws Exception {
        InMemoryEventStore store = store();
        Projection<Map<String, Long>> balances = Projection.of("balances", ConcurrentHashMap::new, (m, e) -> {
            if (e.event() instanceof Deposited d) {
                m.merge(e.streamId(), d.cents(), Long::sum);
            }
            m.merge("#events", 1L, Long::sum);
            m.put("#last", e.position());
        });
        List<Long> seen = Collections.synchronizedList(new ArrayList<>());
        Projection<List<Long>> positions = Projection.of("positions", ArrayList::new, (m, e) -> seen.add(e.position()));
        try (Projector<Map<String, Long>> p = Projector.of(store, balances).start(java.time.Duration.ofMillis(5));
             Projector<List<Long>> order = Projector.of(store, positions).start(java.time.Duration.ofMillis(1))) {
            int writers = 4;
            int each = 500;
            CountDownLatch done = new CountDownLatch(writers);
            AtomicInteger failures = new AtomicInteger();
            for (int w = 0; w < writers; w++) {
                String stream = "w-" + w;
                new Thread(() -> {
                    try {
                        for (int i = 0; i < each; i++) {
                            store.append(stream, ExpectedVersion.exactly(i), List.of(new Deposited(i)));
                        }
                    } catch (RuntimeException e) {
                        failures.incrementAndGet();
                    } finally {
                        done.countDown();
                    }
                }).start();
            }
            done.await();
            assertThat(failures).hasValue(0);
            p.catchUp();
            order.catchUp();
            assertThat(p.status().lag()).isZero();
            assertThat(p.status().position()).isEqualTo(writers * each);
            Map<String, Long> live = Map.copyOf(p.readModel());
            assertThat(live).containsEntry("#events", (long) writers * each).containsEntry("w-0", 124_750L);
            synchronized (seen) {
                assertThat(seen).containsExactlyElementsOf(
                        java.util.stream.LongStream.rangeClosed(1, writers * each).boxed().toList());
            }
            Map<String, Long> rebuilt = p.rebuild();
            assertThat(rebuilt).isNotSameAs(live).isEqualTo(live);
            assertThat(p.readModel()).isSameAs(rebuilt);
            assertThat(Set.copyOf(p.readModel().keySet())).hasSize(writers + 2);
        }
    }
}
