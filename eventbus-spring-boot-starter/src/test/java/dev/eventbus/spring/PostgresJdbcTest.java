package dev.eventbus.spring;

/** {@link JdbcTest} on the local PostgreSQL. */
class PostgresJdbcTest extends JdbcTest.Postgres {
}
