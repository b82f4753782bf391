package dev.eventbus.jdbc.internal;

import dev.eventbus.jdbc.JdbcDialect;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Shares the partitions of one (group, stream) among the live members that want them, Kafka-group style but
 * through two tables: a lease table (one row per partition: position, epoch, owner, lease_until) and a member
 * table (one heartbeat row per member).
 *
 * <p>Each {@link #heartbeat} renews this member's heartbeat and leases, counts the live members, and moves toward
 * a fair share ({@code ceil(partitions / live)}): a member above its share gives back partitions the caller says
 * are idle (and reports the others to revoke), a member below takes free or expired ones, locking candidates
 * with {@code FOR UPDATE SKIP LOCKED} so two members never take the same partition. A crashed member's leases
 * expire and its partitions are taken over from the position it last committed.
 *
 * <p>Used by one thread (the subscription's poller or the relay); not thread-safe.
 */
public final class PartitionLeases {

    /** A partition this member holds, with the position and epoch read when it was taken. */
    public record Lease(int partition, long position, int epoch) {
    }

    /** What one heartbeat changed. */
    public record Change(List<Lease> acquired, Set<Integer> lost, Set<Integer> revoke, List<Lease> moved,
                         Set<Integer> released) {
        public boolean isEmpty() {
            return acquired.isEmpty() && lost.isEmpty() && revoke.isEmpty() && moved.isEmpty() && released.isEmpty();
        }
    }

    private final JdbcDialect dialect;
    private final String leaseTable;
    private final String memberTable;
    private final String group;
    private final String stream;
    private final String memberId;
    private final int partitions;
    private final long leaseMillis;
    private final Map<Integer, Integer> epochs = new HashMap<>();
    private long lastCleanup;

    public PartitionLeases(JdbcDialect dialect, String leaseTable, String memberTable, String group, String stream,
                           String memberId, int partitions, long leaseMillis) {
        this.dialect = dialect;
        this.leaseTable = leaseTable;
        this.memberTable = memberTable;
        this.group = group;
        this.stream = stream;
        this.memberId = memberId;
        this.partitions = partitions;
        this.leaseMillis = leaseMillis;
    }

    public String memberId() {
        return memberId;
    }

    public int partitions() {
        return partitions;
    }

    /** The partitions this member holds, as far as it knows. */
    public Set<Integer> owned() {
        return new TreeSet<>(epochs.keySet());
    }

    /** The epoch under which this member holds {@code partition} (changes when an operator moves the cursor). */
    public int epoch(int partition) {
        Integer e = epochs.get(partition);
        return e == null ? -1 : e;
    }

    /** Creates the partition rows that do not exist yet, at {@code initialPosition}. Auto-commit connection. */
    public void ensureRows(Connection c, long initialPosition, long now) throws SQLException {
        Set<Integer> present = new HashSet<>();
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT partition_no FROM " + leaseTable + " WHERE group_name = ? AND stream = ?")) {
            ps.setString(1, group);
            ps.setString(2, stream);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    present.add(rs.getInt(1));
                }
            }
        }
        for (int p = 0; p < partitions; p++) {
            if (present.contains(p)) {
                continue;
            }
            String insert = Sql.insertIgnore(dialect, leaseTable,
                    "group_name, stream, partition_no, position, epoch, owner, lease_until, updated_at",
                    "?, ?, ?, ?, 0, NULL, 0, ?");
            try (PreparedStatement ps = c.prepareStatement(insert)) {
                ps.setString(1, group);
                ps.setString(2, stream);
                ps.setInt(3, p);
                ps.setLong(4, initialPosition);
                ps.setLong(5, now);
                ps.executeUpdate();
            } catch (SQLException e) {
                if (!Jdbc.isDuplicate(e)) {
                    throw e;
                }
            }
        }
    }

    /**
     * One heartbeat, in its own transaction on {@code c}.
     *
     * @param releasable partitions this member may give back right now (nothing in flight for them)
     */
    public Change heartbeat(Connection c, long now, Set<Integer> releasable) throws SQLException {
        return Jdbc.inTransaction(c, x -> beat(x, now, releasable));
    }

    private Change beat(Connection c, long now, Set<Integer> releasable) throws SQLException {
        long until = now + leaseMillis;
        touchMember(c, now);
        int live = 1;
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM " + memberTable
                + " WHERE group_name = ? AND stream = ? AND expires_at > ?")) {
            ps.setString(1, group);
            ps.setString(2, stream);
            ps.setLong(3, now);
            try (ResultSet rs = ps.executeQuery()) {
                if (rs.next()) {
                    live = Math.max(1, rs.getInt(1));
                }
            }
        }
        int share = (partitions + live - 1) / live;

        // Renew everything still ours, then see what the table says.
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + leaseTable
                + " SET lease_until = ? WHERE group_name = ? AND stream = ? AND owner = ?")) {
            ps.setLong(1, until);
            ps.setString(2, group);
            ps.setString(3, stream);
            ps.setString(4, memberId);
            ps.executeUpdate();
        }
        Map<Integer, Lease> mine = new HashMap<>();
        List<Integer> free = new ArrayList<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT partition_no, position, epoch, owner, lease_until FROM "
                + leaseTable + " WHERE group_name = ? AND stream = ? ORDER BY partition_no")) {
            ps.setString(1, group);
            ps.setString(2, stream);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    int p = rs.getInt(1);
                    String owner = rs.getString(4);
                    if (memberId.equals(owner)) {
                        mine.put(p, new Lease(p, rs.getLong(2), rs.getInt(3)));
                    } else if (owner == null || rs.getLong(5) < now) {
                        free.add(p);
                    }
                }
            }
        }

        Set<Integer> lost = new TreeSet<>();
        List<Lease> moved = new ArrayList<>();
        for (Map.Entry<Integer, Integer> e : epochs.entrySet()) {
            Lease l = mine.get(e.getKey());
            if (l == null) {
                lost.add(e.getKey());
            } else if (l.epoch() != e.getValue()) {
                moved.add(l);
            }
        }
        lost.forEach(epochs::remove);
        for (Lease l : moved) {
            epochs.put(l.partition(), l.epoch());
        }

        Set<Integer> revoke = new TreeSet<>();
        Set<Integer> released = new TreeSet<>();
        List<Lease> acquired = new ArrayList<>();
        if (mine.size() > share) {
            // Give back the highest-numbered ones beyond the share; only idle ones now, the others once drained.
            List<Integer> ordered = new ArrayList<>(new TreeSet<>(mine.keySet()));
            for (int i = ordered.size() - 1; i >= 0 && ordered.size() - revoke.size() - released.size() > share; i--) {
                int p = ordered.get(i);
                if (releasable.contains(p)) {
                    released.add(p);
                } else {
                    revoke.add(p);
                }
            }
            release(c, released, now);
            released.forEach(epochs::remove);
        } else if (mine.size() < share && !free.isEmpty()) {
            int want = share - mine.size();
            String lock = "SELECT partition_no, position, epoch FROM " + leaseTable
                    + " WHERE group_name = ? AND stream = ? AND " + Jdbc.inList(dialect, "partition_no", free.size())
                    + " AND (owner IS NULL OR lease_until < ?) ORDER BY partition_no " + Sql.skipLocked(dialect);
            List<Lease> locked = new ArrayList<>();
            try (PreparedStatement ps = c.prepareStatement(lock)) {
                ps.setString(1, group);
                ps.setString(2, stream);
                int i = Jdbc.bindInts(dialect, c, ps, 3, free);
                ps.setLong(i, now);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        locked.add(new Lease(rs.getInt(1), rs.getLong(2), rs.getInt(3)));
                    }
                }
            }
            try (PreparedStatement ps = c.prepareStatement("UPDATE " + leaseTable
                    + " SET owner = ?, lease_until = ?, updated_at = ? WHERE group_name = ? AND stream = ?"
                    + " AND partition_no = ?")) {
                for (Lease l : locked) {
                    if (acquired.size() >= want) {
                        break;
                    }
                    ps.setString(1, memberId);
                    ps.setLong(2, until);
                    ps.setLong(3, now);
                    ps.setString(4, group);
                    ps.setString(5, stream);
                    ps.setInt(6, l.partition());
                    ps.executeUpdate();
                    acquired.add(l);
                    epochs.put(l.partition(), l.epoch());
                }
            }
        }
        // Partitions we hold in the table but did not know about (a restart with the same member id).
        for (Lease l : mine.values()) {
            if (!epochs.containsKey(l.partition()) && !released.contains(l.partition())) {
                epochs.put(l.partition(), l.epoch());
                acquired.add(l);
            }
        }
        if (now - lastCleanup > leaseMillis * 10) {
            lastCleanup = now;
            try (PreparedStatement ps = c.prepareStatement("DELETE FROM " + memberTable
                    + " WHERE group_name = ? AND stream = ? AND expires_at < ?")) {
                ps.setString(1, group);
                ps.setString(2, stream);
                ps.setLong(3, now - leaseMillis * 10);
                ps.executeUpdate();
            }
        }
        return new Change(acquired, lost, revoke, moved, released);
    }

    private void touchMember(Connection c, long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + memberTable
                + " SET expires_at = ? WHERE group_name = ? AND stream = ? AND member_id = ?")) {
            ps.setLong(1, now + leaseMillis);
            ps.setString(2, group);
            ps.setString(3, stream);
            ps.setString(4, memberId);
            if (ps.executeUpdate() > 0) {
                return;
            }
        }
        try (PreparedStatement ps = c.prepareStatement(Sql.insertIgnore(dialect, memberTable,
                "group_name, stream, member_id, expires_at", "?, ?, ?, ?"))) {
            ps.setString(1, group);
            ps.setString(2, stream);
            ps.setString(3, memberId);
            ps.setLong(4, now + leaseMillis);
            ps.executeUpdate();
        }
    }

    private void release(Connection c, Collection<Integer> parts, long now) throws SQLException {
        if (parts.isEmpty()) {
            return;
        }
        try (PreparedStatement ps = c.prepareStatement("UPDATE " + leaseTable
                + " SET owner = NULL, lease_until = 0, updated_at = ? WHERE group_name = ? AND stream = ?"
                + " AND partition_no = ? AND owner = ?")) {
            for (int p : parts) {
                ps.setLong(1, now);
                ps.setString(2, group);
                ps.setString(3, stream);
                ps.setInt(4, p);
                ps.setString(5, memberId);
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    /** Gives {@code parts} back now (their work is settled), in a transaction of its own. */
    public void releaseNow(Connection c, Set<Integer> parts, long now) throws SQLException {
        Jdbc.inTransaction(c, x -> {
            release(x, parts, now);
            return null;
        });
        parts.forEach(epochs::remove);
    }

    /** Gives every partition back and removes this member's heartbeat, so the others take over at once. */
    public void leave(Connection c, long now) throws SQLException {
        Jdbc.inTransaction(c, x -> {
            try (PreparedStatement ps = x.prepareStatement("UPDATE " + leaseTable
                    + " SET owner = NULL, lease_until = 0, updated_at = ? WHERE group_name = ? AND stream = ?"
                    + " AND owner = ?")) {
                ps.setLong(1, now);
                ps.setString(2, group);
                ps.setString(3, stream);
                ps.setString(4, memberId);
                ps.executeUpdate();
            }
            try (PreparedStatement ps = x.prepareStatement("DELETE FROM " + memberTable
                    + " WHERE group_name = ? AND stream = ? AND member_id = ?")) {
                ps.setString(1, group);
                ps.setString(2, stream);
                ps.setString(3, memberId);
                ps.executeUpdate();
            }
            return null;
        });
        epochs.clear();
    }

    /** Forgets a partition locally (its lease was found taken when committing). */
    public void forget(int partition) {
        epochs.remove(partition);
    }

    /**
     * True when the partitions are spread evenly over the live members and none is free: what a test waits for
     * before sending, so that every instance gets a share.
     */
    public boolean balanced(Connection c, long now) throws SQLException {
        int live;
        try (PreparedStatement ps = c.prepareStatement("SELECT COUNT(*) FROM " + memberTable
                + " WHERE group_name = ? AND stream = ? AND expires_at > ?")) {
            ps.setString(1, group);
            ps.setString(2, stream);
            ps.setLong(3, now);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                live = Math.max(1, rs.getInt(1));
            }
        }
        int share = (partitions + live - 1) / live;
        Map<String, Integer> counts = new HashMap<>();
        try (PreparedStatement ps = c.prepareStatement("SELECT owner, lease_until FROM " + leaseTable
                + " WHERE group_name = ? AND stream = ?")) {
            ps.setString(1, group);
            ps.setString(2, stream);
            try (ResultSet rs = ps.executeQuery()) {
                while (rs.next()) {
                    String owner = rs.getString(1);
                    if (owner == null || rs.getLong(2) < now) {
                        return false;
                    }
                    counts.merge(owner, 1, Integer::sum);
                }
            }
        }
        for (int n : counts.values()) {
            if (n > share) {
                return false;
            }
        }
        return counts.size() == Math.min(live, partitions);
    }
}
