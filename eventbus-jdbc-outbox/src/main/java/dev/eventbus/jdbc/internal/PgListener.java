package dev.eventbus.jdbc.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.reflect.Method;
import java.sql.Connection;
import java.sql.Statement;
import javax.sql.DataSource;

/**
 * Listens on the PostgreSQL channel appenders notify ({@code pg_notify} inside the append transaction, so it is
 * delivered at commit) and wakes this JVM's consumers of the notified stream at once, so an idle consumer on
 * another instance need not poll fast. Uses the driver through reflection ({@code PGConnection
 * .getNotifications(int)}), so the module needs no compile-time dependency on it. Notifications are only a
 * wake-up: consumers still poll (slowly) and miss nothing if one is lost.
 */
public final class PgListener {

    private static final Logger log = LoggerFactory.getLogger(PgListener.class);

    private final DataSource dataSource;
    private final String channel;
    private final String database;
    private final Thread thread;
    private volatile boolean closed;

    public PgListener(DataSource dataSource, String channel, String database) {
        this.dataSource = dataSource;
        this.channel = channel;
        this.database = database;
        this.thread = new Thread(this::run, "eventbus-jdbc-listen-" + channel);
        this.thread.setDaemon(true);
        this.thread.start();
    }

    private void run() {
        int failures = 0;
        while (!closed) {
            try (Connection c = dataSource.getConnection()) {
                c.setAutoCommit(true);
                Class<?> pgConnection = Class.forName("org.postgresql.PGConnection", true,
                        c.getClass().getClassLoader());
                Class<?> pgNotification = Class.forName("org.postgresql.PGNotification", true,
                        c.getClass().getClassLoader());
                Object pg = c.unwrap(pgConnection);
                Method getNotifications = pgConnection.getMethod("getNotifications", int.class);
                Method getParameter = pgNotification.getMethod("getParameter");
                try (Statement s = c.createStatement()) {
                    s.execute("LISTEN " + channel);
                }
                // Anything appended while we were not listening: let every consumer look.
                Wakeups.wakeAll(database);
                failures = 0;
                while (!closed) {
                    Object[] notes = (Object[]) getNotifications.invoke(pg, 500);
                    if (notes != null) {
                        for (Object n : notes) {
                            Wakeups.wakeFromNotification(database, (String) getParameter.invoke(n));
                        }
                    }
                }
            } catch (ClassNotFoundException | NoSuchMethodException e) {
                log.warn("PostgreSQL driver without PGConnection.getNotifications(int); consumers fall back to "
                        + "polling ({})", e.toString());
                return;
            } catch (VirtualMachineError fatal) {
                throw fatal;
            } catch (Throwable e) {
                if (closed) {
                    return;
                }
                failures++;
                if (failures == 1 || failures % 20 == 0) {
                    log.warn("LISTEN {} failed ({} in a row); consumers poll until it is back: {}", channel,
                            failures, e.toString());
                }
                try {
                    Thread.sleep(Math.min(5_000, 200L * failures));
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    public void close() {
        closed = true;
        try {
            thread.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
