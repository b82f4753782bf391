package dev.eventbus.jdbc.internal;

import dev.eventbus.spi.SubscriptionRequest;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What one subscription's poller knows, shared by its steps: the partitions it holds ({@link LogFetcher} reads
 * them, {@link CursorCommitter} moves their cursors), the retry rows in flight, and the retry writes waiting for
 * the next commit. Poller thread only.
 */
final class SubscriptionState {

    final LogStore store;
    final SubscriptionRequest request;
    final Map<Integer, LogPart> parts = new TreeMap<>();
    final Map<Long, RetryEntry> retries = new HashMap<>();
    final List<CursorWrite> retryWrites = new ArrayList<>();
    /** When the retry table is due to be read again (epoch ms). */
    long nextRetryCheck;
    /** When cursors were last committed (epoch ms). */
    long lastCommit;

    SubscriptionState(LogStore store, SubscriptionRequest request) {
        this.store = store;
        this.request = request;
    }

    /** Messages read and not yet settled: bounded by the fetch size. */
    int inflight() {
        int n = retries.size();
        for (LogPart p : parts.values()) {
            n += p.inflight.size();
        }
        return n;
    }

    boolean hasRetriesFor(int partition) {
        for (RetryEntry r : retries.values()) {
            if (r.partition == partition) {
                return true;
            }
        }
        return false;
    }
}
