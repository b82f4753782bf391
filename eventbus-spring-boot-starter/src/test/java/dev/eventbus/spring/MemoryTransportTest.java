package dev.eventbus.spring;

import dev.eventbus.ConfigException;
import dev.eventbus.EventBus;
import dev.eventbus.spring.TestSupport.Inventory;
import dev.eventbus.spring.TestSupport.OrderPlaced;
import dev.eventbus.spring.internal.ConfigFailureAnalyzer;
import dev.eventbus.spring.internal.SubscriberBeans;
import org.junit.jupiter.api.Test;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.health.contributor.CompositeHealthContributor;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The in-memory default: the bus bean, subscriber beans and their lifecycle, configuration errors. */
class MemoryTransportTest {

    @Test
    void subscriberBeansReceiveEventsWhileTheContextRuns() {
        TestSupport.busOnly().withBean(Inventory.class).withPropertyValues("spring.application.name=orders")
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    EventBus bus = context.getBean(EventBus.class);
                    Inventory inventory = context.getBean(Inventory.class);
                    SubscriberBeans subscribers = context.getBean(SubscriberBeans.class);
                    assertThat(bus.serviceName()).isEqualTo("orders");
                    assertThat(subscribers.registeredCount()).isEqualTo(1);

                    bus.publish(new OrderPlaced("o-1", 42)).join();
                    assertThat(inventory.seen).containsExactly(new OrderPlaced("o-1", 42));

                    // Stopping the context (its SmartLifecycle phase) unregisters subscribers; the bus stays open.
                    context.stop();
                    assertThat(subscribers.registeredCount()).isZero();
                    bus.publish(new OrderPlaced("o-2", 1)).join();
                    assertThat(inventory.count("o-2")).isZero();

                    context.start();
                    bus.publish(new OrderPlaced("o-3", 1)).join();
                    assertThat(inventory.count("o-3")).isEqualTo(1);
                    assertThat(bus.isClosed()).isFalse();
                });
    }

    @Test
    void closingTheContextClosesTheBus() {
        EventBus[] bus = new EventBus[1];
        TestSupport.busOnly().withBean(Inventory.class).run(context -> bus[0] = context.getBean(EventBus.class));
        assertThat(bus[0].isClosed()).isTrue();
        assertThatThrownBy(() -> bus[0].publish(new OrderPlaced("late", 1))).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void eventbusPropertiesConfigureTheBus() {
        TestSupport.busOnly().withPropertyValues("eventbus.service=billing", "eventbus.dispatch=async",
                "eventbus.retry.max-attempts=3").run(context -> {
                    EventBus bus = context.getBean(EventBus.class);
                    assertThat(bus.serviceName()).isEqualTo("billing");
                    assertThat(bus.toString()).contains("dispatch=async");
                });
    }

    @Test
    void aTypoInABusKeyFailsStartupNamingTheKey() {
        TestSupport.busOnly().withPropertyValues("eventbus.retry.max-atempts=3").run(context -> {
            assertThat(context).hasFailed();
            Throwable failure = context.getStartupFailure();
            ConfigException cause = findCause(failure, ConfigException.class);
            assertThat(cause).isNotNull();
            assertThat(cause.key()).isEqualTo("eventbus.retry.max-atempts");
            assertThat(cause.getMessage()).contains("eventbus.retry.max-atempts");

            FailureAnalysis analysis = new ConfigFailureAnalyzer().analyze(failure);
            assertThat(analysis.getAction()).contains("'eventbus.retry.max-atempts'");
        });
    }

    @Test
    void aTypoInAStarterKeyFailsStartupNamingTheKey() {
        TestSupport.busOnly().withPropertyValues("eventbus.spring.outbx.enabled=false").run(context -> {
            assertThat(context).hasFailed();
            assertThat(messages(context.getStartupFailure())).contains("eventbus.spring.outbx.enabled");
        });
    }

    @Test
    void anUnknownTransportFailsStartupNamingTheKey() {
        TestSupport.busOnly().withPropertyValues("eventbus.transport=kafak").run(context -> {
            assertThat(context).hasFailed();
            ConfigException cause = findCause(context.getStartupFailure(), ConfigException.class);
            assertThat(cause.key()).isEqualTo("eventbus.transport");
            assertThat(cause.getMessage()).contains("kafak");
        });
    }

    @Test
    void disabledStarterMakesNoBus() {
        TestSupport.busOnly().withPropertyValues("eventbus.spring.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean(EventBus.class));
    }

    @Test
    void healthReportsTheInMemoryTransportUp() {
        TestSupport.busOnly().run(context -> {
            CompositeHealthContributor health = context.getBean("eventbusHealthContributor",
                    CompositeHealthContributor.class);
            HealthIndicator memory = (HealthIndicator) health.getContributor("memory");
            assertThat(memory.health().getStatus()).isEqualTo(Status.UP);
        });
    }

    @Test
    void theDeadLetterEndpointIsOffUnlessExposed() {
        TestSupport.busOnly().run(context -> assertThat(context).doesNotHaveBean(EventBusEndpoint.class));
        TestSupport.busOnly().withPropertyValues("management.endpoints.web.exposure.include=eventbus")
                .run(context -> assertThat(context).hasSingleBean(EventBusEndpoint.class));
    }

    static <T extends Throwable> T findCause(Throwable t, Class<T> type) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (type.isInstance(c)) {
                return type.cast(c);
            }
        }
        return null;
    }

    static String messages(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            sb.append(c).append('\n');
        }
        return sb.toString();
    }
}
