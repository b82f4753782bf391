package dev.eventbus.spring.internal;

import org.springframework.jdbc.datasource.DataSourceUtils;
import org.springframework.jdbc.datasource.DelegatingDataSource;

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
final class TransactionBoundDataSource extends DelegatingDataSource {

    TransactionBoundDataSource(DataSource target) {
        super(target);
    }

    @Override
    public Connection getConnection() throws SQLException {
        DataSource target = obtainTargetDataSource();
        Connection c = DataSourceUtils.getConnection(target);
        if (!DataSourceUtils.isConnectionTransactional(c, target)) {
            return c; // not in a Spring transaction: the caller owns it, as with the plain DataSource
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
