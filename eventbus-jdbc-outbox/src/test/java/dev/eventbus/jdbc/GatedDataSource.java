package dev.eventbus.jdbc;

import java.io.PrintWriter;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Logger;
import javax.sql.DataSource;

/**
 * A data source that can hold back the next {@code getConnection()} until released: the store tests use it to keep
 * a group commit's leader busy while they queue appends behind it, so the next batch holds exactly those appends.
 */
final class GatedDataSource implements DataSource {

    private final DataSource target;
    private final AtomicReference<CountDownLatch> armed = new AtomicReference<>();
    private final CountDownLatch held = new CountDownLatch(1);

    GatedDataSource(DataSource target) {
        this.target = target;
    }

    /** The next getConnection() waits for {@code release}. */
    void holdNext(CountDownLatch release) {
        armed.set(release);
    }

    /** Waits until a getConnection() is being held. */
    void awaitHeld() throws InterruptedException {
        held.await();
    }

    @Override
    public Connection getConnection() throws SQLException {
        CountDownLatch release = armed.getAndSet(null);
        if (release != null) {
            held.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SQLException("interrupted", e);
            }
        }
        return target.getConnection();
    }

    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        return getConnection();
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
    public Logger getParentLogger() {
        return Logger.getGlobal();
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
