package dev.eventbus.jdbc;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

import javax.sql.DataSource;

/** The outbox and relay on Postgres. */
class PostgresOutboxTest extends OutboxTests {

    private static DataSource ds;
    private static String prefix;

    @BeforeAll
    static void database() {
        ds = TestDatabases.postgres();
        prefix = TestDatabases.uniquePrefix("ob_postgres");
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
