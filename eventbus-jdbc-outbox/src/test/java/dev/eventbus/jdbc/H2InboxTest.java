package dev.eventbus.jdbc;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import javax.sql.DataSource;

/** The inbox on H2. */
class H2InboxTest extends InboxTests {

    private static DataSource ds;
    private static String prefix;

    @BeforeAll
    static void database() {
        ds = TestDatabases.h2("inbox");
        prefix = TestDatabases.uniquePrefix("ib_h2");
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
