package dev.eventbus.jdbc.internal;

import dev.eventbus.jdbc.JdbcDialect;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.SQLRecoverableException;
import java.sql.SQLTransientException;
import java.util.Collection;
import java.util.StringJoiner;

/** Small JDBC helpers shared by the transport, the outbox and the inbox. */
public final class Jdbc {

    private Jdbc() {
    }

    /** A unit of work on a connection inside a transaction. */
    @FunctionalInterface
    public interface Work<T> {
        T run(Connection c) throws SQLException;
    }

    /**
     * Runs {@code work} in a transaction on {@code c} (READ COMMITTED, so MariaDB takes no gap locks that would
     * block appenders): commits when it returns, rolls back when it throws, and restores auto-commit and the
     * isolation level either way.
     */
    public static <T> T inTransaction(Connection c, Work<T> work) throws SQLException {
        boolean autoCommit = c.getAutoCommit();
        int isolation = c.getTransactionIsolation();
        if (autoCommit) {
            c.setAutoCommit(false);
        }
        if (isolation != Connection.TRANSACTION_READ_COMMITTED) {
            c.setTransactionIsolation(Connection.TRANSACTION_READ_COMMITTED);
        }
        boolean ok = false;
        try {
            T result = work.run(c);
            c.commit();
            ok = true;
            return result;
        } finally {
            if (!ok) {
                try {
                    c.rollback();
                } catch (SQLException ignored) {
                    // the connection is probably broken; the caller gets the original failure
                }
            }
            try {
                if (isolation != Connection.TRANSACTION_READ_COMMITTED) {
                    c.setTransactionIsolation(isolation);
                }
                if (autoCommit) {
                    c.setAutoCommit(true);
                }
            } catch (SQLException ignored) {
                // a broken connection is replaced by the caller
            }
        }
    }

    /**
     * On PostgreSQL, lets the current transaction commit without waiting for its WAL flush
     * ({@code synchronous_commit = off}, this transaction only). For bookkeeping whose loss in a database crash only
     * causes a redelivery (cursor moves, published marks): such a transaction is lost whole or kept whole, never
     * half. Never for appends, leases or the caller's own data.
     */
    public static void commitAsynchronously(Connection c, JdbcDialect dialect) throws SQLException {
        if (dialect == JdbcDialect.POSTGRESQL) {
            try (java.sql.Statement st = c.createStatement()) {
                st.execute("SET LOCAL synchronous_commit TO OFF");
            }
        }
    }

    /**
     * {@link #inTransaction} with {@link #commitAsynchronously}: for the relay's and the consumers' own bookkeeping
     * (claims, published marks, cursor moves), whose loss in a database crash means a redelivery, never a loss.
     */
    public static <T> T inBookkeepingTransaction(Connection c, JdbcDialect dialect, Work<T> work) throws SQLException {
        return inTransaction(c, x -> {
            commitAsynchronously(x, dialect);
            return work.run(x);
        });
    }

    /** True for a primary key / unique violation (SQLState 23505 on PostgreSQL and H2, 23000 + 1062 on MariaDB). */
    public static boolean isDuplicate(SQLException e) {
        for (SQLException x = e; x != null; x = x.getNextException()) {
            String state = x.getSQLState();
            if ("23505".equals(state) || x.getErrorCode() == 1062 || (state != null && state.equals("23000")
                    && String.valueOf(x.getMessage()).toLowerCase(java.util.Locale.ROOT).contains("duplicate"))) {
                return true;
            }
        }
        return false;
    }

    /** True when trying again later may succeed: connection lost, timeout, deadlock, serialization failure. */
    public static boolean isTransient(Throwable t) {
        for (Throwable x = t; x != null; x = x.getCause()) {
            if (x instanceof SQLTransientException || x instanceof SQLRecoverableException
                    || x instanceof java.net.SocketException || x instanceof java.io.IOException) {
                return true;
            }
            if (x instanceof SQLException e) {
                String s = e.getSQLState();
                if (s != null && (s.startsWith("08") || s.startsWith("40") || s.equals("57P01")
                        || s.equals("53300") || s.equals("HYT00") || s.equals("HY008"))) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * False only when {@code e} is a statement's own error (bad data, constraint, deadlock, serialization), which
     * the database rolls back; true when the connection may have been lost while the statement ran, so an
     * auto-commit statement may have committed without the client hearing of it.
     */
    public static boolean mayHaveCommitted(SQLException e) {
        String s = e.getSQLState();
        return s == null || s.startsWith("08") || s.startsWith("57") || s.startsWith("XX") || e instanceof SQLRecoverableException;
    }

    /** {@code IN (?, ?, ...)} with {@code n} placeholders. */
    public static String placeholders(int n) {
        StringJoiner j = new StringJoiner(", ", "(", ")");
        for (int i = 0; i < n; i++) {
            j.add("?");
        }
        return j.toString();
    }

    /**
     * An id-list condition on {@code column}: {@code = ANY(?)} with one array parameter where the dialect has
     * arrays (fewer distinct statements for the server to prepare), else {@code IN (?, ...)}.
     */
    public static String inList(JdbcDialect dialect, String column, int n) {
        return dialect == JdbcDialect.MARIADB ? column + " IN " + placeholders(n) : column + " = ANY(?)";
    }

    /** Binds what {@link #inList} asked for, starting at {@code index}; returns the next free index. */
    public static int bindLongs(JdbcDialect dialect, Connection c, PreparedStatement ps, int index,
                                Collection<Long> values) throws SQLException {
        if (dialect == JdbcDialect.MARIADB) {
            for (Long v : values) {
                ps.setLong(index++, v);
            }
            return index;
        }
        Object[] array = values.toArray(new Long[0]);
        ps.setArray(index, c.createArrayOf(dialect == JdbcDialect.H2 ? "BIGINT" : "bigint", array));
        return index + 1;
    }

    /** Same as {@link #bindLongs} for integers. */
    public static int bindInts(JdbcDialect dialect, Connection c, PreparedStatement ps, int index,
                               Collection<Integer> values) throws SQLException {
        if (dialect == JdbcDialect.MARIADB) {
            for (Integer v : values) {
                ps.setInt(index++, v);
            }
            return index;
        }
        Object[] array = values.toArray(new Integer[0]);
        ps.setArray(index, c.createArrayOf(dialect == JdbcDialect.H2 ? "INTEGER" : "integer", array));
        return index + 1;
    }

    public static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // closing is best effort
            }
        }
    }

    /** Truncates a text for a bounded column. */
    public static String clip(String s, int max) {
        if (s == null || s.length() <= max) {
            return s;
        }
        return s.substring(0, max - 3) + "...";
    }
}
