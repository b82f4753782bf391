package dev.eventbus.jdbc;

import dev.eventbus.jdbc.internal.LogSubscription;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportSubscription;
import dev.eventbus.testkit.TransportContract;

import java.time.Duration;
import java.util.List;
import javax.sql.DataSource;

import static org.assertj.core.api.Assertions.assertThat;

/** The transport contract on one database: every transport of a test class shares its tables. */
abstract class JdbcContractFixture extends TransportContract {

    abstract DataSource dataSource();

    abstract String prefix();

    static JdbcTransport.Builder fastBuilder(DataSource ds, String prefix) {
        return JdbcTransport.builder(ds)
                .tablePrefix(prefix)
                .schemaMode(SchemaMode.ALWAYS)
                .partitions(8)
                .pollInterval(Duration.ofMillis(50))
                .lease(Duration.ofSeconds(5), Duration.ofMillis(100))
                .commitInterval(Duration.ofMillis(20));
    }

    @Override
    protected Transport newTransport() {
        return fastBuilder(dataSource(), prefix()).build();
    }

    @Override
    protected void awaitSubscriptionsReady(Transport transport, List<TransportSubscription> subscriptions) {
        for (TransportSubscription s : subscriptions) {
            assertThat(((LogSubscription) s).awaitBalanced(Duration.ofSeconds(15)))
                    .as("partitions of %s spread over the group's instances", s).isTrue();
        }
    }
}
