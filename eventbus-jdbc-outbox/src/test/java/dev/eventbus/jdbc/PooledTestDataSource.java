package dev.eventbus.jdbc;

import java.io.PrintWriter;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.util.concurrent.LinkedBlockingDeque;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * A minimal connection pool for the store tests: opening a PostgreSQL or MariaDB connection per call costs more
 * than the statements under test. Public for the fault suite (this module's test-jar). {@code close()} on a handed-out connection rolls back anything left open,
 * restores auto-commit and returns the physical connection. Not for production use.
 */
public final class PooledTestDataSource implements DataSource, AutoCloseable {

    private final DataSource target;
    private final LinkedBlockingDeque<Connection> idle = new LinkedBlockingDeque<>();

    public PooledTestDataSource(DataSource target) {
        this.target = target;
    }

    @Override
    public Connection getConnection() throws SQLException {
        Connection physical = idle.pollFirst();
        if (physical == null || physical.isClosed()) {
            physical = target.getConnection();
        }
        Connection p = physical;
        boolean[] closed = {false};
        return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(), new Class<?>[] {Connection.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("close")) {
                        if (!closed[0]) {
                            closed[0] = true;
                            try {
                                if (!p.getAutoCommit()) {
                                    p.rollback();
                                    p.setAutoCommit(true);
                                }
                                idle.offerFirst(p);
                            } catch (SQLException e) {
                                p.close();
                            }
                        }
                        return null;
                    }
                    if (method.getName().equals("isClosed")) {
                        return closed[0];
                    }
                    if (closed[0]) {
                        throw new SQLException("connection already returned to the pool");
                    }
                    try {
                        return method.invoke(p, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        return getConnection();
    }

    @Override
    public void close() {
        Connection c;
        while ((c = idle.pollFirst()) != null) {
            try {
                c.close();
            } catch (SQLException ignored) {
                // closing anyway
            }
        }
    }

    @Override
    public PrintWriter getLogWriter() {
        return null;
    }

    @Override
    public void setLogWriter(PrintWriter out) {
    }

    @Override
    public void setLoginTimeout(int seconds) {
    }

    @Override
    public int getLoginTimeout() {
        return 0;
    }

    @Override
    public Logger getParentLogger() throws SQLFeatureNotSupportedException {
        throw new SQLFeatureNotSupportedException();
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        throw new SQLException("not a wrapper");
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) {
        return false;
    }
}
