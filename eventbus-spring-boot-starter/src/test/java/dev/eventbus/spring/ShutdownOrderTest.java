package dev.eventbus.spring;

import dev.eventbus.EventBus;
import dev.eventbus.jdbc.Outbox;
import dev.eventbus.spring.TestSupport.Inventory;
import dev.eventbus.spring.internal.RelayLifecycle;
import dev.eventbus.spring.internal.SubscriberBeans;
import org.junit.jupiter.api.Test;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.context.SmartLifecycle;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Graceful shutdown in Spring's phases: when the web server stops (phase {@code DEFAULT_PHASE - 2048}) subscribers
 * have already stopped taking events, while the bus and the outbox relay are still running for the requests that
 * drain; the relay stops after the web server; the bus closes last.
 */
class ShutdownOrderTest {

    /** Stands in for Boot's WebServerStartStopLifecycle: records what it sees when it stops. */
    public static class FakeWebServer implements SmartLifecycle {
        final List<String> seenAtStop = new ArrayList<>();
        SubscriberBeans subscribers;
        RelayLifecycle relay;
        EventBus bus;
        private boolean running;

        @Override
        public void start() {
            running = true;
        }

        @Override
        public void stop() {
            seenAtStop.add("subscribers=" + subscribers.registeredCount());
            seenAtStop.add("relay=" + relay.isRunning());
            seenAtStop.add("bus closed=" + bus.isClosed());
            running = false;
        }

        @Override
        public boolean isRunning() {
            return running;
        }

        @Override
        public int getPhase() {
            return SmartLifecycle.DEFAULT_PHASE - 2048;
        }
    }

    @Test
    void subscribersStopBeforeTheWebServerAndTheRelayAndBusAfterIt() {
        String prefix = TestSupport.unique("sbs");
        FakeWebServer[] web = new FakeWebServer[1];
        RelayLifecycle[] relay = new RelayLifecycle[1];
        EventBus[] bus = new EventBus[1];
        TestSupport.withJdbc().withBean(Inventory.class).withBean(FakeWebServer.class)
                .withPropertyValues("spring.datasource.url=" + TestSupport.h2Url(prefix),
                        "eventbus.jdbc.table-prefix=" + prefix).run(context -> {
                    assertThat(context).hasNotFailed();
                    web[0] = context.getBean(FakeWebServer.class);
                    web[0].subscribers = context.getBean(SubscriberBeans.class);
                    relay[0] = context.getBean(RelayLifecycle.class);
                    web[0].relay = relay[0];
                    bus[0] = context.getBean(EventBus.class);
                    web[0].bus = bus[0];
                    assertThat(web[0].subscribers.registeredCount()).isEqualTo(1);
                    assertThat(relay[0].isRunning()).isTrue();
                });
        assertThat(web[0].seenAtStop).containsExactly("subscribers=0", "relay=true", "bus closed=false");
        assertThat(relay[0].isRunning()).isFalse();
        assertThat(bus[0].isClosed()).isTrue();
    }

    @Test
    void withoutTheJdbcModuleTheBusStillStartsWithoutOutbox() {
        TestSupport.withJdbc().withClassLoader(new FilteredClassLoader(Outbox.class))
                .withPropertyValues("spring.datasource.url=" + TestSupport.h2Url(TestSupport.unique("sbf")))
                .withBean(Inventory.class).run(context -> {
                    assertThat(context).hasNotFailed().hasSingleBean(EventBus.class)
                            .doesNotHaveBean(TransactionalOutbox.class).doesNotHaveBean(RelayLifecycle.class);
                });
    }
}
