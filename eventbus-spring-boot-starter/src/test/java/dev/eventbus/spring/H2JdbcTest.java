package dev.eventbus.spring;

/** {@link JdbcTest} on H2 in memory, one database per test. */
class H2JdbcTest extends JdbcTest {

    @Override
    String[] dataSourceProperties(String prefix) {
        return new String[]{"spring.datasource.url=" + TestSupport.h2Url(prefix), "spring.datasource.username=sa"};
    }
}
