package dev.eventbus.jdbc;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;

/**
 * A process the crash tests start and then kill with SIGKILL: it writes to an H2 file database, says READY once
 * everything is committed, and waits to be killed (no close, no shutdown hook gets to run).
 *
 * <ul>
 *   <li>{@code transport <url> <stream> <n>}: publishes n events on the JDBC transport (nobody subscribed yet).</li>
 *   <li>{@code outbox <url> <n>}: n transactions, each inserting an order row and its event into the outbox;
 *       no relay runs.</li>
 * </ul>
 */
public final class CrashingApp {

    private CrashingApp() {
    }

    public static void main(String[] args) throws Exception {
        String url = args[1];
        if (args[0].equals("transport")) {
            JdbcTransport t = JdbcTransport.fromConfig(Map.of(JdbcConfig.URL, url));
            List<CompletableFuture<Void>> sent = new ArrayList<>();
            for (int i = 0; i < Integer.parseInt(args[3]); i++) {
                sent.add(t.send(message(args[2], "order-" + (i % 3), "event-" + i)));
            }
            sent.forEach(CompletableFuture::join);
        } else {
            dev.eventbus.jdbc.internal.DriverManagerDataSource ds =
                    new dev.eventbus.jdbc.internal.DriverManagerDataSource(url, null, null);
            Outbox outbox = Outbox.builder(ds).build();
            try (Connection c = ds.getConnection()) {
                try (Statement s = c.createStatement()) {
                    s.execute("CREATE TABLE IF NOT EXISTS orders (id VARCHAR(50) PRIMARY KEY)");
                }
                c.setAutoCommit(false);
                for (int i = 0; i < Integer.parseInt(args[2]); i++) {
                    try (PreparedStatement ps = c.prepareStatement("INSERT INTO orders (id) VALUES (?)")) {
                        ps.setString(1, "order-" + i);
                        ps.executeUpdate();
                    }
                    outbox.publish(message("orders", "order-" + i, "placed-" + i), c);
                    c.commit();
                }
            }
        }
        System.out.println("READY");
        System.out.flush();
        Thread.sleep(60_000); // killed long before this
        System.exit(3);
    }

    static TransportMessage message(String stream, String key, String body) {
        Map<String, String> h = new LinkedHashMap<>();
        h.put(MessageHeaders.ID, UUID.randomUUID().toString());
        h.put(MessageHeaders.TYPE, "crash.test");
        h.put(MessageHeaders.SOURCE, "/crashing-app");
        return TransportMessage.of(stream, key, h, body.getBytes(StandardCharsets.UTF_8));
    }
}
