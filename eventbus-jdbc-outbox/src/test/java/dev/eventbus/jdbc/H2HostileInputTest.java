package dev.eventbus.jdbc;

import dev.eventbus.EventBus;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.testkit.HostileInputContract;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.sql.DataSource;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The JDBC transport passes the hostile-input contract on H2 (tables of their own per test). */
class H2HostileInputTest extends HostileInputContract {

    private static DataSource ds;
    private static final List<String> prefixes = new ArrayList<>();

    @BeforeAll
    static void database() {
        ds = TestDatabases.h2("hostile");
    }

    @AfterAll
    static void dropTables() {
        prefixes.forEach(p -> TestDatabases.dropTables(ds, p));
    }

    @Override
    protected Transport newTransport() {
        String prefix = TestDatabases.uniquePrefix("hi_h2");
        prefixes.add(prefix);
        return JdbcContractFixture.fastBuilder(ds, prefix).build();
    }

    @Test
    void anUnreadableHeaderRowIsDeadLetteredWithAWarning() throws Exception {
        String prefix = TestDatabases.uniquePrefix("hi_h2");
        prefixes.add(prefix);
        Transport t = JdbcContractFixture.fastBuilder(ds, prefix).build();
        PrintStream err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        // slf4j-simple writes to whatever System.err is at the time of the call
        System.setErr(new PrintStream(new Tee(err, captured), true, StandardCharsets.UTF_8));
        try (EventBus bus = EventBus.builder().service("hostile").transport(t).build()) {
            // Written and corrupted before the group subscribes (it starts at the earliest retained row).
            t.send(TransportMessage.of(STREAM, "k", Map.of(MessageHeaders.ID, "bad-1",
                    MessageHeaders.TYPE, "hostile.order.placed", MessageHeaders.DATACONTENTTYPE, "application/json"),
                    "{}".getBytes(StandardCharsets.UTF_8))).get(10, TimeUnit.SECONDS);
            try (Connection c = ds.getConnection();
                 PreparedStatement ps = c.prepareStatement("UPDATE " + prefix + "log SET headers = ? WHERE event_id = ?")) {
                ps.setString(1, "{broken");
                ps.setString(2, "bad-1");
                assertThat(ps.executeUpdate()).isEqualTo(1);
                if (!c.getAutoCommit()) {
                    c.commit();
                }
            }
            Sink sink = new Sink();
            bus.register(sink);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (bus.deadLetters().list(GROUP).isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertThat(bus.deadLetters().list(GROUP)).hasSize(1);
            assertThat(bus.deadLetters().list(GROUP).get(0).reason()).contains("cannot be read");
        } finally {
            System.setErr(err);
        }
        assertThat(captured.toString(StandardCharsets.UTF_8)).contains("WARN")
                .contains("dead-lettered unreadable log row");
    }

    /** Writes to two streams. */
    static final class Tee extends java.io.OutputStream {
        private final java.io.OutputStream a;
        private final java.io.OutputStream b;

        Tee(java.io.OutputStream a, java.io.OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public synchronized void write(int c) throws java.io.IOException {
            a.write(c);
            b.write(c);
        }

        @Override
        public synchronized void write(byte[] buf, int off, int len) throws java.io.IOException {
            a.write(buf, off, len);
            b.write(buf, off, len);
        }
    }
}
