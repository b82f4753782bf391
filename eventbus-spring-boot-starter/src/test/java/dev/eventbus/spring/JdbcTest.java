package dev.eventbus.spring;

import dev.eventbus.EventBus;
import dev.eventbus.jdbc.JdbcEventStore;
import dev.eventbus.store.ExpectedVersion;
import dev.eventbus.store.RecordedEvent;
import dev.eventbus.spring.TestSupport.Inventory;
import dev.eventbus.spring.TestSupport.OrderPlaced;
import org.junit.jupiter.api.Test;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.ApplicationContext;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.transaction.annotation.Transactional;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The JDBC side on the application's DataSource, on H2 and PostgreSQL: the JDBC transport, and the transactional
 * outbox joining a {@code @Transactional} method (rollback leaves neither row; commit publishes exactly once).
 */
abstract class JdbcTest {

    /** A service whose @Transactional method writes a business row and an outbox row. */
    public static class OrderService {
        private final JdbcTemplate jdbc;
        private final TransactionalOutbox outbox;

        public OrderService(JdbcTemplate jdbc, TransactionalOutbox outbox) {
            this.jdbc = jdbc;
            this.outbox = outbox;
        }

        @Transactional
        public void place(String table, String orderId, boolean fail) {
            jdbc.update("INSERT INTO " + table + " (id) VALUES (?)", orderId);
            outbox.publish(new OrderPlaced(orderId, 100));
            if (fail) {
                throw new IllegalStateException("payment declined for " + orderId);
            }
        }
    }

    /** A service whose @Transactional method writes a business row and appends to the event store. */
    public static class LedgerService {
        private final JdbcTemplate jdbc;
        private final JdbcEventStore store;

        public LedgerService(JdbcTemplate jdbc, JdbcEventStore store) {
            this.jdbc = jdbc;
            this.store = store;
        }

        @Transactional
        public long place(String table, String orderId, boolean fail) {
            jdbc.update("INSERT INTO " + table + " (id) VALUES (?)", orderId);
            long v = store.append("order-" + orderId, ExpectedVersion.noStream(), List.of(new OrderPlaced(orderId, 7)));
            if (fail) {
                throw new IllegalStateException("payment declined for " + orderId);
            }
            return v;
        }
    }

    static final List<String> PREFIXES = new ArrayList<>();

    abstract String[] dataSourceProperties(String prefix);

    ApplicationContextRunner runner(String prefix, String... more) {
        synchronized (PREFIXES) {
            PREFIXES.add(prefix);
        }
        List<String> props = new ArrayList<>(List.of(dataSourceProperties(prefix)));
        props.add("eventbus.jdbc.table-prefix=" + prefix);
        props.add("eventbus.jdbc.create-schema=always");
        props.add("eventbus.jdbc.poll-interval=100ms");
        props.add("eventbus.jdbc.outbox.poll-interval=100ms");
        props.addAll(List.of(more));
        return TestSupport.withJdbc().withBean(Inventory.class).withBean(OrderService.class)
                .withPropertyValues(props.toArray(String[]::new));
    }

    @Test
    void theJdbcTransportRunsOnTheApplicationsDataSource() {
        String prefix = TestSupport.unique("sbj");
        runner(prefix, "eventbus.transport=jdbc", "eventbus.service=" + prefix).run(context -> {
            assertThat(context).hasNotFailed();
            EventBus bus = context.getBean(EventBus.class);
            bus.publish(new OrderPlaced("j-1", 5)).join();
            Inventory inventory = context.getBean(Inventory.class);
            TestSupport.await("delivery over the JDBC log", Duration.ofSeconds(30), () -> inventory.count("j-1") == 1);
            // The log row is in the application's database, in the configured tables.
            assertThat(count(context, "SELECT COUNT(*) FROM " + prefix + "log")).isEqualTo(1);
            assertThat(BrokerTransportsTest.health(context, "jdbc").getStatus()).isEqualTo(Status.UP);
            assertThat(BrokerTransportsTest.health(context, "outbox-relay").getStatus()).isEqualTo(Status.UP);
        });
    }

    @Test
    void aRolledBackTransactionLeavesNeitherTheBusinessRowNorTheOutboxRow() {
        String prefix = TestSupport.unique("sbo");
        runner(prefix).run(context -> {
            assertThat(context).hasNotFailed();
            String orders = createOrders(context, prefix);
            OrderService service = context.getBean(OrderService.class);

            assertThatThrownBy(() -> service.place(orders, "o-rollback", true))
                    .hasMessageContaining("payment declined");

            assertThat(count(context, "SELECT COUNT(*) FROM " + orders)).isZero();
            assertThat(count(context, "SELECT COUNT(*) FROM " + prefix + "outbox")).isZero();
            Thread.sleep(500); // a few relay polls: nothing may arrive
            assertThat(context.getBean(Inventory.class).count("o-rollback")).isZero();
        });
    }

    @Test
    void aCommittedTransactionPublishesExactlyOnce() {
        String prefix = TestSupport.unique("sbc");
        runner(prefix).run(context -> {
            assertThat(context).hasNotFailed();
            String orders = createOrders(context, prefix);
            OrderService service = context.getBean(OrderService.class);
            Inventory inventory = context.getBean(Inventory.class);

            service.place(orders, "o-commit", false);

            assertThat(count(context, "SELECT COUNT(*) FROM " + orders + " WHERE id = 'o-commit'")).isEqualTo(1);
            TestSupport.await("the relay delivering the committed event", Duration.ofSeconds(30),
                    () -> inventory.count("o-commit") >= 1);
            TestSupport.await("the outbox row marked published", Duration.ofSeconds(30),
                    () -> count(context, "SELECT COUNT(*) FROM " + prefix + "outbox WHERE status = 'published'") == 1);
            Thread.sleep(1000); // several more relay rounds: still exactly one delivery
            assertThat(inventory.count("o-commit")).isEqualTo(1);
            assertThat(count(context, "SELECT COUNT(*) FROM " + prefix + "outbox")).isEqualTo(1);
        });
    }

    @Test
    void publishingOutsideATransactionIsRefused() {
        String prefix = TestSupport.unique("sbn");
        runner(prefix).run(context -> {
            TransactionalOutbox outbox = context.getBean(TransactionalOutbox.class);
            assertThatThrownBy(() -> outbox.publish(new OrderPlaced("o-none", 1)))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("@Transactional");
            assertThat(count(context, "SELECT COUNT(*) FROM " + prefix + "outbox")).isZero();
        });
    }

    @Test
    void anEventStoreAppendCommitsWithTheBusinessRowAndIsRelayed() {
        String prefix = TestSupport.unique("sbs");
        runner(prefix, "eventbus.spring.event-store.enabled=true").withBean(LedgerService.class).run(context -> {
            assertThat(context).hasNotFailed().hasSingleBean(JdbcEventStore.class);
            String orders = createOrders(context, prefix);
            LedgerService ledger = context.getBean(LedgerService.class);
            JdbcEventStore store = context.getBean(JdbcEventStore.class);

            assertThat(ledger.place(orders, "s-commit", false)).isEqualTo(1);

            assertThat(count(context, "SELECT COUNT(*) FROM " + orders)).isEqualTo(1);
            assertThat(count(context, "SELECT COUNT(*) FROM " + prefix + "store_event")).isEqualTo(1);
            assertThat(count(context, "SELECT COUNT(*) FROM " + prefix + "outbox")).isEqualTo(1);
            List<RecordedEvent<?>> read = store.read("order-s-commit", 1);
            assertThat(read).hasSize(1);
            assertThat(read.get(0).event()).isEqualTo(new OrderPlaced("s-commit", 7));
            // Its outbox row is relayed like any other: the subscriber gets the stored event once.
            Inventory inventory = context.getBean(Inventory.class);
            TestSupport.await("the relay delivering the appended event", Duration.ofSeconds(30),
                    () -> inventory.count("s-commit") == 1);
            // Outside a transaction an append commits on its own.
            store.append("order-s-commit", ExpectedVersion.exactly(1), List.of(new OrderPlaced("s-commit", 8)));
            assertThat(store.streamVersion("order-s-commit")).isEqualTo(2);
        });
    }

    @Test
    void aRolledBackTransactionLeavesNeitherTheBusinessRowNorTheStoredEventsNorTheirOutboxRows() {
        String prefix = TestSupport.unique("sbr");
        runner(prefix, "eventbus.spring.event-store.enabled=true").withBean(LedgerService.class).run(context -> {
            assertThat(context).hasNotFailed();
            String orders = createOrders(context, prefix);
            LedgerService ledger = context.getBean(LedgerService.class);

            assertThatThrownBy(() -> ledger.place(orders, "s-rollback", true)).hasMessageContaining("payment declined");

            assertThat(count(context, "SELECT COUNT(*) FROM " + orders)).isZero();
            assertThat(count(context, "SELECT COUNT(*) FROM " + prefix + "store_event")).isZero();
            assertThat(count(context, "SELECT COUNT(*) FROM " + prefix + "store_stream")).isZero();
            assertThat(count(context, "SELECT COUNT(*) FROM " + prefix + "outbox")).isZero();
            assertThat(context.getBean(JdbcEventStore.class).streamVersion("order-s-rollback")).isZero();
            // The stream is still new: the same append now succeeds.
            assertThat(ledger.place(orders, "s-rollback", false)).isEqualTo(1);
            Inventory inventory = context.getBean(Inventory.class);
            TestSupport.await("the committed append relayed", Duration.ofSeconds(30),
                    () -> inventory.count("s-rollback") >= 1);
            Thread.sleep(500); // more relay rounds: the rolled-back attempt never shows up
            assertThat(inventory.count("s-rollback")).isEqualTo(1);
        });
    }

    @Test
    void theEventStoreIsOptIn() {
        String prefix = TestSupport.unique("sbx");
        runner(prefix).run(context -> assertThat(context).hasNotFailed().doesNotHaveBean(JdbcEventStore.class));
    }

    static String createOrders(ApplicationContext context, String prefix) {
        String table = prefix + "orders";
        context.getBean(JdbcTemplate.class).execute("CREATE TABLE " + table + " (id VARCHAR(64) PRIMARY KEY)");
        return table;
    }

    static long count(ApplicationContext context, String sql) {
        Long n = context.getBean(JdbcTemplate.class).queryForObject(sql, Long.class);
        return n == null ? 0 : n;
    }

    /** Drops the tables and views of this run's prefixes. */
    static void dropTables(String url) throws SQLException {
        List<String> prefixes;
        synchronized (PREFIXES) {
            prefixes = new ArrayList<>(PREFIXES);
            PREFIXES.clear();
        }
        try (Connection c = DriverManager.getConnection(url)) {
            for (String prefix : prefixes) {
                List<String[]> objects = new ArrayList<>();
                try (ResultSet rs = c.getMetaData().getTables(null, null, null, new String[]{"TABLE", "VIEW"})) {
                    while (rs.next()) {
                        String name = rs.getString("TABLE_NAME");
                        if (name.toLowerCase().startsWith(prefix.toLowerCase())) {
                            objects.add(new String[]{rs.getString("TABLE_TYPE"), name});
                        }
                    }
                }
                objects.sort((a, b) -> b[0].compareTo(a[0])); // views first
                for (String[] o : objects) {
                    try (Statement s = c.createStatement()) {
                        s.execute("DROP " + (o[0].equals("VIEW") ? "VIEW " : "TABLE ") + o[1] + " CASCADE");
                    } catch (SQLException ignored) {
                        // dropped with its table already
                    }
                }
            }
        }
    }

    /** Fails (never skips) with how to start PostgreSQL when it is not there. */
    static final class PostgresCheck {
        private static volatile boolean checked;

        static void requireReachable() {
            if (checked) {
                return;
            }
            try (Connection c = DriverManager.getConnection(TestSupport.POSTGRES_URL)) {
                checked = c.isValid(5);
            } catch (SQLException e) {
                throw new IllegalStateException("PostgreSQL is not reachable at " + TestSupport.POSTGRES_URL + " ("
                        + e.getMessage() + "). Start it (e.g. pg_ctlcluster 15 main start) or point "
                        + "EVENTBUS_TEST_POSTGRES_URL at one.", e);
            }
        }
    }
}
