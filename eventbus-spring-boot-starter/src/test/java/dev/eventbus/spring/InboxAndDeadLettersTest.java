package dev.eventbus.spring;

import dev.eventbus.Subscribe;
import dev.eventbus.spring.TestSupport.OrderPlaced;
import dev.eventbus.spring.internal.SpringInbox;
import org.junit.jupiter.api.Test;
import org.springframework.jdbc.core.JdbcTemplate;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The Spring-transactional inbox (handler's JdbcTemplate work and the inbox record commit or roll back together) and
 * the dead-letter endpoint (list, replay), on H2.
 */
class InboxAndDeadLettersTest {

    /** Writes a row with JdbcTemplate for each event; fails while {@link #failing} is set. */
    public static class Shipping {
        final JdbcTemplate jdbc;
        final AtomicBoolean failing = new AtomicBoolean();

        public Shipping(JdbcTemplate jdbc) {
            this.jdbc = jdbc;
        }

        @Subscribe
        public void on(OrderPlaced e) {
            jdbc.update("INSERT INTO shipments (order_id) VALUES (?)", e.orderId());
            if (failing.get()) {
                throw new IllegalStateException("warehouse offline");
            }
        }
    }

    @Test
    void handlerWorkAndInboxRecordCommitTogetherAndADeadLetterCanBeReplayed() {
        String prefix = TestSupport.unique("sbi");
        TestSupport.withJdbc().withBean(Shipping.class).withPropertyValues(
                "spring.datasource.url=" + TestSupport.h2Url(prefix),
                "eventbus.spring.inbox.enabled=true",
                "eventbus.jdbc.table-prefix=" + prefix,
                "eventbus.retry.max-attempts=2",
                "eventbus.retry.immediate-retries=1",
                "management.endpoints.web.exposure.include=eventbus").run(context -> {
                    assertThat(context).hasNotFailed().hasSingleBean(SpringInbox.class);
                    JdbcTemplate jdbc = context.getBean(JdbcTemplate.class);
                    jdbc.execute("CREATE TABLE shipments (order_id VARCHAR(64))");
                    Shipping shipping = context.getBean(Shipping.class);
                    dev.eventbus.EventBus bus = context.getBean(dev.eventbus.EventBus.class);

                    bus.publish(new OrderPlaced("i-1", 1)).join();
                    TestSupport.await("handled", Duration.ofSeconds(10), () -> rows(jdbc, "shipments") == 1);
                    assertThat(rows(jdbc, prefix + "inbox")).isEqualTo(1);

                    // A failing handler: its insert and the inbox record roll back, attempt after attempt.
                    shipping.failing.set(true);
                    bus.publish(new OrderPlaced("i-2", 2)).join();
                    EventBusEndpoint endpoint = context.getBean(EventBusEndpoint.class);
                    TestSupport.await("a dead letter", Duration.ofSeconds(30),
                            () -> deadLetters(endpoint).size() == 1);
                    assertThat(rows(jdbc, "shipments")).isEqualTo(1);
                    assertThat(rows(jdbc, prefix + "inbox")).isEqualTo(1);
                    Map<String, Object> dead = deadLetters(endpoint).get(0);
                    assertThat(dead).containsEntry("exception", IllegalStateException.class.getName());

                    // Fixed: replay through the endpoint; handled once, recorded once.
                    shipping.failing.set(false);
                    assertThat(endpoint.replay("no-such-id")).containsEntry("replayed", false);
                    assertThat(endpoint.replay((String) dead.get("id"))).containsEntry("replayed", true);
                    TestSupport.await("the replayed event handled", Duration.ofSeconds(10),
                            () -> rows(jdbc, "shipments") == 2);
                    assertThat(rows(jdbc, prefix + "inbox")).isEqualTo(2);
                    assertThat(deadLetters(endpoint)).isEmpty();
                });
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> deadLetters(EventBusEndpoint endpoint) {
        return (List<Map<String, Object>>) endpoint.deadLetters(null, null).get("deadLetters");
    }

    static long rows(JdbcTemplate jdbc, String table) {
        Long n = jdbc.queryForObject("SELECT COUNT(*) FROM " + table, Long.class);
        return n == null ? 0 : n;
    }
}
