package dev.eventbus.jdbc.internal;

import dev.eventbus.EventBusException;
import dev.eventbus.jdbc.JdbcDialect;
import dev.eventbus.spi.TransportMessage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Appends messages to the log, one writer thread per transport, committing many sends in one transaction (group
 * commit) without changing their order.
 *
 * <p>Commit order equals sequence order per stream: an append transaction first increments the stream's
 * {@code next_seq} (taking that row's lock until commit), so two transactions appending to one stream take their
 * sequence ranges one after the other, and the second can only commit after the first. A reader that sees
 * sequence {@code n} committed knows every sequence below {@code n} is committed too: sequences are gapless and
 * nothing can appear behind a cursor later. Streams are locked in name order, so appenders never deadlock.
 */
public final class LogAppender {

    private static final Logger log = LoggerFactory.getLogger(LogAppender.class);
    private static final int MAX_TRIES = 3;

    private record Pending(List<TransportMessage> messages, CompletableFuture<Void> future) {
    }

    private final LogStore store;
    private final LinkedBlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
    private final Thread writer;
    private volatile boolean closed;
    private Connection connection;

    public LogAppender(LogStore store, String name) {
        this.store = store;
        this.writer = new Thread(this::run, "eventbus-jdbc-append-" + name);
        this.writer.setDaemon(true);
        this.writer.start();
    }

    public CompletableFuture<Void> append(List<TransportMessage> messages) {
        CompletableFuture<Void> f = new CompletableFuture<>();
        if (closed) {
            f.completeExceptionally(new IllegalStateException("the jdbc transport is closed"));
            return f;
        }
        if (messages.isEmpty()) {
            f.complete(null);
            return f;
        }
        Pending p = new Pending(messages, f);
        queue.add(p);
        if (closed && queue.remove(p)) {
            // Closed while we queued it: the writer may be gone already.
            f.completeExceptionally(new IllegalStateException("the jdbc transport is closed"));
        }
        return f;
    }

    /** Stops taking sends, writes what is queued (up to {@code timeoutMillis}) and releases the connection. */
    public void close(long timeoutMillis) {
        closed = true;
        // No interrupt: an interrupted thread in the middle of H2 file I/O closes the database file.
        try {
            writer.join(Math.max(1, timeoutMillis));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Pending p;
        while ((p = queue.poll()) != null) {
            p.future.completeExceptionally(new IllegalStateException("the jdbc transport is closed"));
        }
        Jdbc.closeQuietly(connection);
    }

    private void run() {
        List<Pending> batch = new ArrayList<>();
        while (true) {
            Pending first;
            try {
                first = closed ? queue.poll() : queue.poll(100, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                first = null;
            }
            if (first == null) {
                if (closed) {
                    return;
                }
                continue;
            }
            batch.clear();
            batch.add(first);
            int n = first.messages.size();
            Pending next;
            while (n < store.settings.appendBatch() && (next = queue.poll()) != null) {
                batch.add(next);
                n += next.messages.size();
            }
            write(batch);
        }
    }

    private void write(List<Pending> batch) {
        SQLException last = null;
        for (int attempt = 1; attempt <= MAX_TRIES; attempt++) {
            try {
                Map<String, Long> firstSeqs = writeOnce(batch);
                for (Pending p : batch) {
                    p.future.complete(null);
                }
                for (String stream : firstSeqs.keySet()) {
                    Wakeups.wake(store.database, stream);
                }
                return;
            } catch (SQLException e) {
                last = e;
                Jdbc.closeQuietly(connection);
                connection = null;
                if (!Jdbc.isTransient(e) || closed) {
                    break;
                }
                log.warn("append to the log failed (attempt {} of {}), retrying: {}", attempt, MAX_TRIES, e.toString());
                sleep(100L * attempt);
            } catch (VirtualMachineError fatal) {
                throw fatal;
            } catch (Throwable e) {
                // A driver may throw an Error (pgjdbc: AssertionError) when its connection dies mid-batch: the
                // writer thread must survive it, or every later send would wait forever.
                Jdbc.closeQuietly(connection);
                connection = null;
                for (Pending p : batch) {
                    p.future.completeExceptionally(new EventBusException("cannot append to the log: " + e, e, true));
                }
                return;
            }
        }
        boolean retriable = Jdbc.isTransient(last);
        for (Pending p : batch) {
            p.future.completeExceptionally(new EventBusException("cannot append to the log table "
                    + store.settings.log() + ": " + last.getMessage(), last, retriable));
        }
    }

    private Map<String, Long> writeOnce(List<Pending> batch) throws SQLException {
        if (connection == null) {
            connection = store.dataSource.getConnection();
        }
        Connection c = connection;
        // Per stream, in send order; streams locked in name order.
        Map<String, List<TransportMessage>> byStream = new TreeMap<>();
        for (Pending p : batch) {
            for (TransportMessage m : p.messages) {
                byStream.computeIfAbsent(m.stream(), s -> new ArrayList<>()).add(m);
            }
        }
        Map<String, Integer> partitions = new LinkedHashMap<>();
        for (String stream : byStream.keySet()) {
            partitions.put(stream, store.partitionsOf(c, stream));
        }
        return Jdbc.inTransaction(c, x -> {
            Map<String, Long> firsts = new LinkedHashMap<>();
            long now = System.currentTimeMillis();
            for (Map.Entry<String, List<TransportMessage>> e : byStream.entrySet()) {
                firsts.put(e.getKey(), reserve(x, e.getKey(), e.getValue().size()));
            }
            try (PreparedStatement ps = x.prepareStatement("INSERT INTO " + store.settings.log()
                    + " (seq, partition_no, created_at, stream, msg_key, event_id, event_type, headers, body,"
                    + " deliver_at, priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
                for (Map.Entry<String, List<TransportMessage>> e : byStream.entrySet()) {
                    long seq = firsts.get(e.getKey());
                    int parts = partitions.get(e.getKey());
                    for (TransportMessage m : e.getValue()) {
                        ps.setLong(1, seq++);
                        ps.setInt(2, Partitioner.partition(m.key(), parts));
                        ps.setLong(3, now);
                        Rows.bind(ps, 4, m);
                        ps.addBatch();
                    }
                }
                ps.executeBatch();
            }
            if (store.dialect == JdbcDialect.POSTGRESQL && store.settings.listenNotify()) {
                try (PreparedStatement ps = x.prepareStatement("SELECT pg_notify(?, ?)")) {
                    for (String stream : byStream.keySet()) {
                        ps.setString(1, store.settings.channel());
                        ps.setString(2, Wakeups.payload(stream));
                        ps.executeQuery().close();
                    }
                }
            }
            return firsts;
        });
    }

    /** Takes {@code n} sequence numbers of {@code stream}, holding its row lock until commit; returns the first. */
    private long reserve(Connection c, String stream, int n) throws SQLException {
        if (store.dialect == JdbcDialect.POSTGRESQL) {
            try (PreparedStatement ps = c.prepareStatement("UPDATE " + store.settings.stream()
                    + " SET next_seq = next_seq + ? WHERE stream = ? RETURNING next_seq")) {
                ps.setInt(1, n);
                ps.setString(2, stream);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        throw new SQLException("stream row for '" + stream + "' is missing");
                    }
                    return rs.getLong(1) - n;
                }
            }
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + store.settings.stream()
                + " SET next_seq = next_seq + ? WHERE stream = ?")) {
            ps.setInt(1, n);
            ps.setString(2, stream);
            if (ps.executeUpdate() != 1) {
                throw new SQLException("stream row for '" + stream + "' is missing");
            }
        }
        try (PreparedStatement ps = c.prepareStatement("SELECT next_seq FROM " + store.settings.stream()
                + " WHERE stream = ?")) {
            ps.setString(1, stream);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return rs.getLong(1) - n;
            }
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
