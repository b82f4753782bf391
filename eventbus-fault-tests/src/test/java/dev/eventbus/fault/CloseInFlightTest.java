package dev.eventbus.fault;

import dev.eventbus.EventBus;
import dev.eventbus.InMemoryTransport;
import dev.eventbus.PublishOptions;
import dev.eventbus.jdbc.JdbcTransport;
import dev.eventbus.jdbc.PooledTestDataSource;
import dev.eventbus.jdbc.SchemaMode;
import dev.eventbus.jdbc.TestDatabases;
import dev.eventbus.spi.Transport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import javax.sql.DataSource;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Case 5: {@code close()} while handlers are mid-execution. A bus's handlers take 300 ms each; once several are
 * running it is closed with a 100 ms timeout, so they are still running when {@code close} returns (they go on
 * and finish). Then a new bus of the same group subscribes. Every event was either handled to the end by the
 * first bus or is redelivered to the second: 0 acknowledged-but-unhandled. An event the first bus finished after
 * its close returned may come again (at least once); that is counted, not failed.
 *
 * <p>Each transport runs it twice: with that short close, and with a draining one (10 s, far longer than a
 * handler), where close must let the running handlers finish and settle them before it returns, so none of the
 * events the first bus finished is handled again by the second.
 */
class CloseInFlightTest {

    private static final int EVENTS = 40;
    private static final int KEYS = 8;
    private static final long HANDLER_MS = 300;
    /** Shorter than a handler: close returns with handlers still running. */
    private static final Duration SHORT_CLOSE = Duration.ofMillis(100);
    /** Far longer than a handler: close drains the running handlers and settles them. */
    private static final Duration DRAINING_CLOSE = Duration.ofSeconds(10);

    private static final String RABBIT_PREFIX = Figures.unique("fault") + ".";
    private static PooledTestDataSource pool;
    private static DataSource postgres;
    private static String jdbcPrefix;

    @AfterAll
    static void cleanUp() {
        Brokers.sweepRabbit(RABBIT_PREFIX);
        if (pool != null) {
            pool.close();
            TestDatabases.dropTables(postgres, jdbcPrefix);
        }
    }

    @Test
    void memory() throws Exception {
        InMemoryTransport broker = new InMemoryTransport();
        try {
            run("memory", broker.newInstance(), broker::newInstance, SHORT_CLOSE);
            run("memory", broker.newInstance(), broker::newInstance, DRAINING_CLOSE);
        } finally {
            broker.close(Duration.ofSeconds(1));
        }
    }

    @Test
    void kafka() throws Exception {
        run("kafka", Brokers.kafka("fault-close"), () -> Brokers.kafka("fault-close"), SHORT_CLOSE);
        run("kafka", Brokers.kafka("fault-close"), () -> Brokers.kafka("fault-close"), DRAINING_CLOSE);
    }

    @Test
    void rabbitmq() throws Exception {
        Supplier<Transport> transports = () -> Brokers.rabbit("fault-close", RABBIT_PREFIX);
        run("rabbitmq", transports.get(), transports, SHORT_CLOSE);
        run("rabbitmq", transports.get(), transports, DRAINING_CLOSE);
    }

    @Test
    void jdbc() throws Exception {
        postgres = TestDatabases.postgres();
        pool = new PooledTestDataSource(postgres);
        jdbcPrefix = TestDatabases.uniquePrefix("faultclose");
        Supplier<Transport> transports = () -> JdbcTransport.builder(pool).tablePrefix(jdbcPrefix)
                .schemaMode(SchemaMode.ALWAYS).partitions(8).pollInterval(Duration.ofMillis(50))
                .lease(Duration.ofSeconds(5), Duration.ofMillis(100)).commitInterval(Duration.ofMillis(20))
                .startAtEarliest(true).build();
        run("jdbc-postgresql", transports.get(), transports, SHORT_CLOSE);
        run("jdbc-postgresql", transports.get(), transports, DRAINING_CLOSE);
    }

    /**
     * @param publishing the transport events are sent through (raw, so the in-memory bus's local shortcut is not
     *                   taken); closed here
     * @param consumers  a new transport instance for each consuming bus (same broker)
     */
    private static void run(String name, Transport publishing, Supplier<Transport> consumers, Duration closeTimeout)
            throws Exception {
        boolean draining = closeTimeout.compareTo(Duration.ofMillis(HANDLER_MS)) > 0;
        String stream = Figures.unique("fault-close");
        String group = Figures.unique("closing");
        Set<String> started = ConcurrentHashMap.newKeySet();
        Set<String> completedFirst = ConcurrentHashMap.newKeySet();
        Set<String> handledSecond = ConcurrentHashMap.newKeySet();
        Set<String> all = new LinkedHashSet<>();
        AtomicInteger interrupted = new AtomicInteger();
        int completedBeforeCloseReturned;
        int inFlightAtClose;
        long closeMillis;
        try (EventBus publisher = EventBus.builder().service("fault-close").defaultStream(stream)
                .transport(publishing).build()) {
            EventBus first = EventBus.builder().service("fault-close").defaultStream(stream)
                    .transport(consumers.get()).concurrency(4).build();
            try {
                first.subscribe(Tick.class, group, e -> {
                    started.add(e.id());
                    try {
                        Thread.sleep(HANDLER_MS);
                    } catch (InterruptedException stopped) {
                        interrupted.incrementAndGet(); // ends the handler unfinished, as it would a real one
                        throw stopped;
                    }
                    completedFirst.add(e.id());
                });
                if (!name.equals("memory")) {
                    // Topology/partitions in place before anything is sent: a warm-up the first bus handles.
                    publishing.send(publisher.messageFor(new Tick("warm-up", 0, 0), PublishOptions.none())).get();
                    Figures.await("the first bus is consuming", Duration.ofSeconds(60),
                            () -> completedFirst.contains("warm-up:0"), started::size);
                    all.add("warm-up:0");
                }
                // All sent before waiting for any confirm, so handlers are still busy with them when close comes.
                List<CompletableFuture<Void>> sends = new ArrayList<>();
                for (int i = 0; i < EVENTS; i++) {
                    Tick t = new Tick("k" + (i % KEYS), i, 0);
                    all.add(t.id());
                    sends.add(publishing.send(publisher.messageFor(t, PublishOptions.none())));
                }
                for (CompletableFuture<Void> f : sends) {
                    f.get();
                }
                Figures.await("handlers are mid-execution", Duration.ofSeconds(60),
                        () -> started.size() - completedFirst.size() >= 2, started::size);
                inFlightAtClose = started.size() - completedFirst.size();
                long t0 = System.nanoTime();
                first.close(closeTimeout);
                closeMillis = (System.nanoTime() - t0) / 1_000_000;
                completedBeforeCloseReturned = completedFirst.size();
            } finally {
                first.close(closeTimeout);
            }
            Thread.sleep(HANDLER_MS + 200); // the handlers still running finish (or are interrupted) now

            try (EventBus second = EventBus.builder().service("fault-close").defaultStream(stream)
                    .transport(consumers.get()).concurrency(4).build()) {
                second.subscribe(Tick.class, group, e -> handledSecond.add(e.id()));
                Figures.await("every event handled by the first bus or redelivered to the second",
                        Duration.ofSeconds(90), () -> unhandled(all, completedFirst, handledSecond).isEmpty(),
                        () -> unhandled(all, completedFirst, handledSecond));
                Thread.sleep(500); // late redeliveries show up as duplicates
            }
        }
        Set<String> both = new HashSet<>(completedFirst);
        both.retainAll(handledSecond);
        Set<String> lost = unhandled(all, completedFirst, handledSecond);
        Figures.print("close-in-flight-" + name, "close-timeout", closeTimeout.toMillis() + "ms",
                "events", all.size(), "in-flight-at-close", inFlightAtClose,
                "close-took", closeMillis + "ms", "completed-before-close-returned", completedBeforeCloseReturned,
                "completed-after-close-returned", completedFirst.size() - completedBeforeCloseReturned,
                "interrupted", interrupted.get(), "redelivered-to-new-bus", handledSecond.size(),
                "handled-by-both", both.size(),
                "acknowledged-but-unhandled", lost.size());
        assertThat(inFlightAtClose).as("handlers mid-execution when close was called").isPositive();
        assertThat(lost).as("events neither handled by the closed bus nor redelivered").isEmpty();
        if (draining) {
            // Handlers that finished within the close timeout were settled: nothing handled twice that need not be.
            assertThat(completedFirst.size()).as("handlers finished before a draining close returned")
                    .isEqualTo(completedBeforeCloseReturned);
            assertThat(both).as("events the closed bus finished within its close timeout, handled again").isEmpty();
        }
    }

    private static Set<String> unhandled(Set<String> all, Set<String> first, Set<String> second) {
        Set<String> left = new LinkedHashSet<>(all);
        left.removeAll(first);
        left.removeAll(second);
        return left;
    }
}
