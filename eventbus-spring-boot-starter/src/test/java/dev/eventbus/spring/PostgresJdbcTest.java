package dev.eventbus.spring;

import org.junit.jupiter.api.AfterAll;

import java.sql.SQLException;

/** {@link JdbcTest} on the local PostgreSQL ({@code EVENTBUS_TEST_POSTGRES_URL}), tables named per test. */
class PostgresJdbcTest extends JdbcTest {

    @Override
    String[] dataSourceProperties(String prefix) {
        PostgresCheck.requireReachable();
        return new String[]{"spring.datasource.url=" + TestSupport.POSTGRES_URL};
    }

    @AfterAll
    static void dropTables() throws SQLException {
        JdbcTest.dropTables(TestSupport.POSTGRES_URL);
    }
}
