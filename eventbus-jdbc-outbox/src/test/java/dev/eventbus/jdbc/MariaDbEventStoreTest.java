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
        ds = TestDatabases.mariadb();
        prefix = TestDatabases.uniquePrefix("es_mariadb");
    }

    @AfterAll
    static void dropTables() {
        if (ds != null) {
            TestDatabases.dropTables(ds, prefix);
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
