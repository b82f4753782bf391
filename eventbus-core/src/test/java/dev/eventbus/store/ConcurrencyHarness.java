package dev.eventbus.store;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Many threads race to append to one stream, round after round, each expecting the version of the round; the
 * store must let exactly one win each version and refuse the others with {@link ConcurrencyException}.
 * Public so the JDBC module's tests run the same race against a database.
 */
public final class ConcurrencyHarness {

    /** @param winners version to winning thread; {@code losers} the number of refusals */
    public record Result(Map<Long, Integer> winners, long losers) {
    }

    private ConcurrencyHarness() {
    }

    public static Result race(EventStore store, String stream, int threads, int rounds) throws Exception {
        Map<Long, Integer> winners = new ConcurrentHashMap<>();
        AtomicLong losers = new AtomicLong();
        AtomicReference<Throwable> unexpected = new AtomicReference<>();
        CyclicBarrier barrier = new CyclicBarrier(threads);
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            int id = t;
            ts[t] = new Thread(() -> {
                try {
                    for (long round = 0; round < rounds && unexpected.get() == null; round++) {
                        barrier.await(60, java.util.concurrent.TimeUnit.SECONDS);
                        try {
                            long v = store.append(stream, ExpectedVersion.exactly(round),
                                    List.of(new Payload(id, round)));
                            Integer previous = winners.putIfAbsent(v, id);
                            if (previous != null) {
                                throw new AssertionError("version " + v + " won twice: " + previous + ", " + id);
                            }
                        } catch (ConcurrencyException e) {
                            if (e.expected().version() != round || e.actual() <= round || !stream.equals(e.streamId())) {
                                throw new AssertionError("bad conflict report: " + e.getMessage());
                            }
                            losers.incrementAndGet();
                        }
                    }
                } catch (java.util.concurrent.BrokenBarrierException | java.util.concurrent.TimeoutException e) {
                    unexpected.compareAndSet(null, e); // another racer failed first: its failure is the one kept
                } catch (Throwable e) {
                    unexpected.compareAndSet(null, e);
                    barrier.reset();
                }
            }, "racer-" + t);
            ts[t].start();
        }
        for (Thread t : ts) {
            t.join();
        }
        if (unexpected.get() != null) {
            throw new AssertionError("a racer failed: " + unexpected.get(), unexpected.get());
        }
        return new Result(winners, losers.get());
    }

    /** The event the racers append. */
    @dev.eventbus.EventType(name = "test.race", stream = "race")
    public record Payload(int writer, long round) {
    }
}
