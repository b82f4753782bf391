package dev.eventbus.spring;

/** {@link JdbcTest} on H2 in memory. */
class H2JdbcTest extends JdbcTest.H2 {
}
