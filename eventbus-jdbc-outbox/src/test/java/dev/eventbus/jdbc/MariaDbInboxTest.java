package dev.eventbus.jdbc;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import javax.sql.DataSource;

/** The inbox on MariaDb. */
class MariaDbInboxTest extends InboxTests {

    private static DataSource ds;
    private static String prefix;

    @BeforeAll
    static void database() {
        ds = TestDatabases.mariadb();
        prefix = TestDatabases.uniquePrefix("ib_mariadb");
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
