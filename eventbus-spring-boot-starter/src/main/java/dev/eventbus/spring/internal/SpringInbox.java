package dev.eventbus.spring.internal;

import dev.eventbus.ConsumeInterceptor;
import dev.eventbus.jdbc.Inbox;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.support.TransactionTemplate;

import java.util.Map;
import javax.sql.DataSource;

/**
 * The {@link Inbox} inside Spring transactions: each subscriber invocation runs in a Spring transaction
 * ({@code REQUIRED}) of the application's transaction manager, and the inbox record is written with that
 * transaction's connection. So the handler's {@code JdbcTemplate}, JPA repositories and
 * {@code TransactionalOutbox.publish} all join it: the record, the side effects and any events published commit
 * together, and a redelivered event is skipped.
 *
 * <p>Thread-safe. {@link #close()} stops the inbox's retention thread.
 */
public final class SpringInbox implements ConsumeInterceptor, AutoCloseable {

    private final Inbox inbox;
    private final TransactionTemplate transactions;

    public SpringInbox(DataSource dataSource, PlatformTransactionManager transactionManager, Map<String, String> config) {
        this.inbox = Inbox.builder(new TransactionBoundDataSource(dataSource)).config(config).build();
        this.transactions = new TransactionTemplate(transactionManager);
    }

    @Override
    public void intercept(Chain chain) throws Exception {
        try {
            transactions.executeWithoutResult(status -> {
                try {
                    inbox.intercept(chain);
                } catch (RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new Checked(e); // rolls back, then rethrown as itself below
                }
            });
        } catch (Checked e) {
            throw e.checked;
        }
    }

    /** The inbox underneath (counters, purge). */
    public Inbox inbox() {
        return inbox;
    }

    @Override
    public void close() {
        inbox.close();
    }

    private static final class Checked extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final Exception checked;

        Checked(Exception checked) {
            super(checked);
            this.checked = checked;
        }
    }
}
