package dev.eventbus.spring;

import dev.eventbus.PublishOptions;
import dev.eventbus.jdbc.Outbox;
import org.springframework.jdbc.datasource.DataSourceUtils;
import org.springframework.transaction.support.TransactionSynchronization;
import org.springframework.transaction.support.TransactionSynchronizationManager;

import java.sql.Connection;
import java.util.Collection;
import java.util.Objects;
import javax.sql.DataSource;

/**
 * Publishes events through the transactional outbox inside the current Spring transaction: the event row is
 * written with the transaction's own connection, so it commits with the business rows or not at all. After the
 * commit the outbox relay (started by the starter unless {@code eventbus.spring.outbox.relay=false}) is woken up
 * and delivers the event, at least once, to the relay's target transport.
 *
 * <pre>{@code
 * @Transactional
 * public void placeOrder(Order order) {
 *     orders.save(order);                                        // JdbcTemplate, JPA, ...
 *     outbox.publish(new OrderPlaced(order.id(), order.total())); // same transaction
 * }
 * }</pre>
 *
 * <p>The transaction must be one that binds a JDBC connection of the application's {@link DataSource}
 * ({@code DataSourceTransactionManager}, {@code JdbcTransactionManager}, or {@code JpaTransactionManager} with a
 * JDBC-exposing dialect such as Hibernate's).
 *
 * <p>Thread-safe. Each call blocks for one {@code INSERT}. Nothing to close.
 *
 * @see Outbox
 */
public final class TransactionalOutbox {

    private final Outbox outbox;
    private final DataSource dataSource;
    private final Runnable afterCommit;

    /**
     * @param afterCommit run after a transaction that published commits (wakes the relay); may be null
     */
    public TransactionalOutbox(Outbox outbox, DataSource dataSource, Runnable afterCommit) {
        this.outbox = Objects.requireNonNull(outbox, "outbox");
        this.dataSource = Objects.requireNonNull(dataSource, "dataSource");
        this.afterCommit = afterCommit;
    }

    /**
     * Writes {@code event} into the outbox in the current transaction.
     *
     * @throws IllegalStateException             when no Spring transaction is active (the event would be
     *                                           committed on its own)
     * @throws dev.eventbus.EventBusException    when the INSERT fails (let it roll the transaction back)
     */
    public void publish(Object event) {
        publish(event, PublishOptions.none());
    }

    /** {@link #publish(Object)} with a key, headers, a delay, another stream or a priority. */
    public void publish(Object event, PublishOptions options) {
        Objects.requireNonNull(event, "event");
        Objects.requireNonNull(options, "options");
        Connection c = connection();
        try {
            outbox.publish(event, options, c);
        } finally {
            DataSourceUtils.releaseConnection(c, dataSource);
        }
    }

    /** Writes several events, in order, in the current transaction. */
    public void publishAll(Collection<?> events) {
        Objects.requireNonNull(events, "events");
        Connection c = connection();
        try {
            outbox.publishAll(events, c);
        } finally {
            DataSourceUtils.releaseConnection(c, dataSource);
        }
    }

    /** The outbox underneath (table name, dialect, {@code countByStatus}). */
    public Outbox outbox() {
        return outbox;
    }

    private Connection connection() {
        if (!TransactionSynchronizationManager.isActualTransactionActive()) {
            throw new IllegalStateException("TransactionalOutbox.publish needs an active Spring transaction (call it "
                    + "from a @Transactional method or inside TransactionTemplate.execute): without one the event "
                    + "would be committed on its own, whatever happens to your business change");
        }
        Connection c = DataSourceUtils.getConnection(dataSource);
        if (afterCommit != null && TransactionSynchronizationManager.isSynchronizationActive()) {
            TransactionSynchronizationManager.registerSynchronization(new TransactionSynchronization() {
                @Override
                public void afterCommit() {
                    afterCommit.run();
                }
            });
        }
        return c;
    }
}
