package dev.eventbus.jdbc;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import javax.sql.DataSource;

/** The event store and projector on MariaDb. */
class MariaDbEventStoreTest extends EventStoreTests {

    private static DataSource ds;
    private static String prefix;

    @BeforeAll
    static void database() {
        ds = new PooledTestDataSource(TestDatabases.mariadb());
        prefix = TestDatabases.uniquePrefix("es_mariadb");
    }

    @AfterAll
    static void dropTables() {
        if (ds != null) {
            TestDatabases.dropTables(ds, prefix);
            ((PooledTestDataSource) ds).close();
        }
    }

    @Override
    DataSource dataSource() {
        return ds;
    }

    @Override
    String prefix() {
        return prefix;
    }

    /**
     * 8 x 2k here: on the shared 2-core machine 8 x 10k on a server takes several minutes (each append is a commit
     * with an fsync); run it with {@code -Deventbus.test.store-events-per-writer=10000}.
     */
    @Override
    int defaultEventsPerWriter() {
        return 2_000;
    }
}
