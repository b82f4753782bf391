package dev.eventbus.fault;

import dev.eventbus.EventBus;
import dev.eventbus.jdbc.JdbcTransport;
import dev.eventbus.jdbc.Outbox;
import dev.eventbus.jdbc.OutboxRelay;
import dev.eventbus.jdbc.SchemaMode;
import dev.eventbus.jdbc.internal.DriverManagerDataSource;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import javax.sql.DataSource;

/**
 * The process {@link OutboxKillTest} kills with SIGKILL: it writes orders, each with its {@link Tick} in the outbox
 * in the same transaction (25 orders per transaction), resuming after the last committed order, while an
 * {@link OutboxRelay} in the same process relays the outbox to the JDBC transport. Prints READY once its relay
 * runs and PUBLISHED once every order is committed, then relays until it is killed.
 *
 * <p>Arguments: {@code <jdbc url> <table prefix> <stream> <total> <keys>}.
 */
public final class OutboxPublisherApp {

    static final int PER_TRANSACTION = 25;

    private OutboxPublisherApp() {
    }

    public static void main(String[] args) throws Exception {
        String url = args[0];
        String prefix = args[1];
        String stream = args[2];
        int total = Integer.parseInt(args[3]);
        int keys = Integer.parseInt(args[4]);
        DataSource ds = new DriverManagerDataSource(url, null, null);
        JdbcTransport target = OutboxKillTest.transport(ds, prefix).build();
        // Only builds the messages (serializer, CloudEvents headers, stream); nothing is published through it.
        EventBus bus = EventBus.builder().service("fault-publisher").defaultStream(stream).build();
        Outbox outbox = Outbox.builder(ds).bus(bus).tablePrefix(prefix).schemaMode(SchemaMode.ALWAYS).build();
        // A short lease: the relay of the next process takes over a killed one's partitions within 2 s.
        OutboxRelay relay = OutboxRelay.builder(ds, target).tablePrefix(prefix).schemaMode(SchemaMode.ALWAYS)
                .batchSize(200).pollInterval(Duration.ofMillis(20))
                .lease(Duration.ofSeconds(2), Duration.ofMillis(200)).sendTimeout(Duration.ofSeconds(1)).build();
        System.out.println("READY");
        System.out.flush();
        try (Connection c = ds.getConnection()) {
            c.setAutoCommit(false);
            long next;
            try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM " + prefix
                    + "orders")) {
                rs.next();
                next = rs.getLong(1);
            }
            c.commit();
            while (next < total) {
                List<Tick> events = new ArrayList<>();
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + prefix + "orders (seq) VALUES (?)")) {
                    for (int i = 0; i < PER_TRANSACTION && next < total; i++, next++) {
                        ps.setLong(1, next);
                        ps.addBatch();
                        events.add(new Tick("k" + (next % keys), next, 0));
                    }
                    ps.executeBatch();
                }
                outbox.publishAll(events, c);
                c.commit();
            }
        }
        System.out.println("PUBLISHED");
        System.out.flush();
        Thread.sleep(600_000); // relaying until killed
        relay.close();
        System.exit(3);
    }
}
