package dev.eventbus.spring.internal;

import org.springframework.jdbc.datasource.DataSourceUtils;
import org.springframework.jdbc.datasource.DelegatingDataSource;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.SQLException;
import javax.sql.DataSource;

/**
 * A DataSource for components that manage their own transactions (the {@code Inbox}) but must join Spring's: inside
 * an active Spring transaction it hands out the transaction's connection, on which {@code commit},
 * {@code rollback}, {@code setAutoCommit} and {@code close} are left to Spring (the Spring transaction commits or
 * rolls back everything together, including JPA flushes); outside one it behaves like the target.
 *
 * <p>Thread-safe.
 */
public final class TransactionBoundDataSource extends DelegatingDataSource {

    private final Runnable afterCommit;

    public TransactionBoundDataSource(DataSource target) {
        this(target, null);
    }

    /**
     * @param afterCommit run after each Spring transaction that took a connection from here commits (wakes the outbox
     *                    relay); may be null
     */
    public TransactionBoundDataSource(DataSource target, Runnable afterCommit) {
        super(target);
        this.afterCommit = afterCommit;
    }

    @Override
    public Connection getConnection() throws SQLException {
        DataSource target = obtainTargetDataSource();
        Connection c = DataSourceUtils.getConnection(target);
        if (!DataSourceUtils.isConnectionTransactional(c, target)) {
            return c; // not in a Spring transaction: the caller owns it, as with the plain DataSource
        }
        if (afterCommit != null && TransactionSynchronizationManager.isSynchronizationActive()) {
            TransactionSynchronizationManager.registerSynchronization(new TransactionSynchronization() {
                @Override
                public void afterCommit() {
                    afterCommit.run();
                }
            });
        }
        InvocationHandler h = (proxy, method, args) -> {
            switch (method.getName()) {
                case "commit", "rollback", "setAutoCommit":
                    if (method.getParameterCount() == 0 || "setAutoCommit".equals(method.getName())) {
                        return null; // Spring's transaction decides (rollback(Savepoint) still goes through)
                    }
                    break;
                case "getAutoCommit":
                    return false;
                case "close":
                    DataSourceUtils.releaseConnection(c, target);
                    return null;
                case "unwrap":
                    if (((Class<?>) args[0]).isInstance(proxy)) {
                        return proxy;
                    }
                    break;
                case "equals":
                    return proxy == args[0];
                case "hashCode":
                    return System.identityHashCode(proxy);
                default:
                    break;
            }
            try {
                return method.invoke(c, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        };
        return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(), new Class<?>[]{Connection.class}, h);
    }
}
