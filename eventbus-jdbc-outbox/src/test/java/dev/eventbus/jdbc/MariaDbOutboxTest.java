package dev.eventbus.jdbc;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import javax.sql.DataSource;

/** The outbox and relay on MariaDb. */
class MariaDbOutboxTest extends OutboxTests {

    private static DataSource ds;
    private static String prefix;

    @BeforeAll
    static void database() {
        ds = TestDatabases.mariadb();
        prefix = TestDatabases.uniquePrefix("ob_mariadb");
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
