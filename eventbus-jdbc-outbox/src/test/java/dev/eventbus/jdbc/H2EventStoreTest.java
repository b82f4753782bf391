package dev.eventbus.jdbc;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import javax.sql.DataSource;

/** The event store and projector on H2. */
class H2EventStoreTest extends EventStoreTests {

    private static DataSource ds;
    private static String prefix;

    @BeforeAll
    static void database() {
        ds = new PooledTestDataSource(TestDatabases.h2("store"));
        prefix = TestDatabases.uniquePrefix("es_h2");
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
}
