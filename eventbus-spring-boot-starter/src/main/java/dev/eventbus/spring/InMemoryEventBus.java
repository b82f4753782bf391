package dev.eventbus.spring;

import org.springframework.test.context.TestPropertySource;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * On a Spring test class ({@code @SpringBootTest}, or any test slice that includes the auto-configuration):
 * the auto-configured bus uses the in-memory transport only, whatever {@code eventbus.transport}, the routes and the
 * transport settings say, so the test needs no broker. The outbox and inbox, when configured, still use the test's
 * DataSource; the relay then delivers to the in-memory transport. Sets {@code eventbus.spring.in-memory=true}.
 *
 * <pre>{@code
 * @SpringBootTest
 * @InMemoryEventBus
 * class OrderServiceTest { ... }
 * }</pre>
 *
 * <p>Needs {@code spring-test} on the test classpath (it comes with {@code spring-boot-starter-test}).
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@TestPropertySource(properties = "eventbus.spring.in-memory=true")
public @interface InMemoryEventBus {
}
