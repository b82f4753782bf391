package dev.eventbus.spring;

import dev.eventbus.Subscribe;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.jdbc.autoconfigure.DataSourceAutoConfiguration;
import org.springframework.boot.jdbc.autoconfigure.DataSourceTransactionManagerAutoConfiguration;
import org.springframework.boot.jdbc.autoconfigure.JdbcTemplateAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.transaction.autoconfigure.TransactionAutoConfiguration;

import java.time.Duration;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;

/** Shared pieces of the starter's tests: events, a subscriber bean, context runners, unique names, waiting. */
final class TestSupport {

    static final String POSTGRES_URL = env("EVENTBUS_TEST_POSTGRES_URL", "jdbc:postgresql://127.0.0.1:5432/test?user=postgres");
    static final String RABBITMQ_URI = env("EVENTBUS_TEST_RABBITMQ_URI", "amqp://guest:guest@localhost:5672/");

    private TestSupport() {
    }

    private static String env(String name, String def) {
        String v = System.getenv(name);
        if (v == null || v.isBlank()) {
            return def;
        }
        return name.contains("POSTGRES") && !v.startsWith("jdbc:") ? "jdbc:" + v : v;
    }

    /** A short unique name for topics, prefixes, groups and databases of one test. */
    static String unique(String base) {
        return base + UUID.randomUUID().toString().replace("-", "").substring(0, 10);
    }

    /** The bus auto-configuration and actuator support, nothing else. */
    static ApplicationContextRunner busOnly() {
        return new ApplicationContextRunner().withConfiguration(AutoConfigurations.of(EventBusAutoConfiguration.class,
                EventBusHealthAutoConfiguration.class));
    }

    /** With Boot's DataSource, transaction manager, @Transactional and JdbcTemplate auto-configuration. */
    static ApplicationContextRunner withJdbc() {
        return busOnly().withConfiguration(AutoConfigurations.of(DataSourceAutoConfiguration.class,
                DataSourceTransactionManagerAutoConfiguration.class, TransactionAutoConfiguration.class,
                JdbcTemplateAutoConfiguration.class));
    }

    static String h2Url(String name) {
        return "jdbc:h2:mem:" + name + ";DB_CLOSE_DELAY=-1";
    }

    static void await(String what, Duration timeout, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what);
            }
            Thread.sleep(50);
        }
    }

    /** An event. */
    public record OrderPlaced(String orderId, long total) {
    }

    /** A subscriber bean: records what it got. */
    public static class Inventory {
        final List<OrderPlaced> seen = new CopyOnWriteArrayList<>();

        @Subscribe
        public void on(OrderPlaced e) {
            seen.add(e);
        }

        long count(String orderId) {
            return seen.stream().filter(e -> e.orderId().equals(orderId)).count();
        }
    }
}
