package dev.eventbus.spring;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import dev.eventbus.EventBus;
import dev.eventbus.Subscribe;
import dev.eventbus.kafka.testing.TestKafkaBroker;
import dev.eventbus.spring.TestSupport.Inventory;
import dev.eventbus.spring.TestSupport.OrderPlaced;
import org.junit.jupiter.api.Test;
import org.springframework.boot.health.contributor.CompositeHealthContributor;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.context.ApplicationContext;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/** The context starts with the Kafka and RabbitMQ transports, delivers to subscriber beans, reports health. */
class BrokerTransportsTest {

    /** A second subscriber bean, in its own group, that fails while {@link #failing} is set. */
    public static class Billing {
        final AtomicBoolean failing = new AtomicBoolean();
        final List<String> billed = new CopyOnWriteArrayList<>();

        @Subscribe(group = "billing")
        public void on(OrderPlaced e) {
            if (failing.get()) {
                throw new IllegalStateException("billing down");
            }
            billed.add(e.orderId());
        }
    }

    @Test
    void kafka() {
        String name = TestSupport.unique("sbk");
        TestSupport.busOnly().withBean(Inventory.class).withBean(Billing.class).withPropertyValues(
                "eventbus.service=" + name,
                "eventbus.transport=kafka",
                "eventbus.kafka.bootstrap.servers=" + TestKafkaBroker.bootstrapServers(),
                "eventbus.kafka.topic-prefix=" + name + ".",
                "eventbus.retry.max-attempts=1",
                "management.endpoints.web.exposure.include=eventbus").run(context -> {
                    assertThat(context).hasNotFailed();
                    Billing billing = context.getBean(Billing.class);
                    billing.failing.set(true);
                    assertDelivers(context, "k-1");
                    Health h = health(context, "kafka");
                    assertThat(h.getStatus()).isEqualTo(Status.UP);
                    assertThat(h.getDetails()).containsEntry("brokers", 1);

                    // Billing gave up on k-1: its dead letter (id topic/partition/offset) is listed and replayed.
                    EventBusEndpoint endpoint = context.getBean(EventBusEndpoint.class);
                    TestSupport.await("billing's dead letter", Duration.ofSeconds(60),
                            () -> !InboxAndDeadLettersTest.deadLetters(endpoint).isEmpty());
                    Map<String, Object> dead = InboxAndDeadLettersTest.deadLetters(endpoint).get(0);
                    assertThat(dead).containsEntry("group", "billing").containsEntry("exception", IllegalStateException.class.getName());
                    String id = (String) dead.get("id");
                    assertThat(id).contains("/");
                    billing.failing.set(false);
                    assertThat(endpoint.replay(id.split("/"))).containsEntry("replayed", true);
                    TestSupport.await("the replayed event billed", Duration.ofSeconds(60),
                            () -> billing.billed.contains("k-1"));
                    assertThat(context.getBean(Inventory.class).count("k-1")).isEqualTo(1);
                });
    }

    @Test
    void rabbitmqHealthGoesDownWhenTheBrokerIsUnreachableAndUpWhenItReturns() throws Exception {
        URI broker = URI.create(TestSupport.RABBITMQ_URI);
        String prefix = TestSupport.unique("sbr") + ".";
        try (TcpProxy proxy = new TcpProxy(broker.getHost(), broker.getPort() < 0 ? 5672 : broker.getPort())) {
            String viaProxy = broker.getScheme() + "://" + broker.getRawUserInfo() + "@127.0.0.1:" + proxy.port()
                    + (broker.getRawPath() == null ? "/" : broker.getRawPath());
            TestSupport.busOnly().withBean(Inventory.class).withPropertyValues(
                    "eventbus.service=" + prefix + "svc",
                    "eventbus.transport=rabbitmq",
                    "eventbus.rabbitmq.uri=" + viaProxy,
                    "eventbus.rabbitmq.prefix=" + prefix,
                    "eventbus.rabbitmq.recovery-interval=500ms",
                    "eventbus.rabbitmq.heartbeat=2s",
                    "eventbus.consumer.ordered-by-key=false").run(context -> {
                        assertThat(context).hasNotFailed();
                        assertDelivers(context, "r-1");
                        assertThat(health(context, "rabbitmq").getStatus()).isEqualTo(Status.UP);

                        proxy.stop();
                        TestSupport.await("health DOWN after the broker went away", Duration.ofSeconds(30),
                                () -> health(context, "rabbitmq").getStatus().equals(Status.DOWN));
                        assertThat(health(context, "rabbitmq").getDetails()).containsKey("error");

                        proxy.start();
                        TestSupport.await("health UP after the broker came back", Duration.ofSeconds(60),
                                () -> health(context, "rabbitmq").getStatus().equals(Status.UP));
                        assertDelivers(context, "r-2");
                    });
        } finally {
            deleteRabbitTopology(broker, prefix);
        }
    }

    static void assertDelivers(ApplicationContext context, String orderId) throws InterruptedException {
        Inventory inventory = context.getBean(Inventory.class);
        context.getBean(EventBus.class).publish(new OrderPlaced(orderId, 7)).join();
        TestSupport.await("delivery of " + orderId, Duration.ofSeconds(60), () -> inventory.count(orderId) == 1);
    }

    static Health health(ApplicationContext context, String part) {
        CompositeHealthContributor all = context.getBean("eventbusHealthContributor", CompositeHealthContributor.class);
        return ((HealthIndicator) all.getContributor(part)).health();
    }

    /** The test's exchange and queues on the shared broker (naming per the RabbitMQ module's README). */
    private static void deleteRabbitTopology(URI broker, String prefix) throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setUri(broker);
        if ("/".equals(broker.getRawPath()) || broker.getRawPath() == null || broker.getRawPath().isEmpty()) {
            f.setVirtualHost("/"); // amqp://host:5672/ means the default vhost here, as the transport reads it
        }
        String stream = "events";
        String group = prefix + "svc";
        try (Connection c = f.newConnection()) {
            for (String q : List.of(prefix + stream + "." + group, prefix + stream + "." + group + ".dlq")) {
                try (Channel ch = c.createChannel()) {
                    ch.queueDelete(q);
                } catch (Exception ignored) {
                    // not declared
                }
            }
            for (String x : List.of(prefix + stream, prefix + stream + ".delay")) {
                try (Channel ch = c.createChannel()) {
                    ch.exchangeDelete(x);
                } catch (Exception ignored) {
                    // not declared
                }
            }
        }
    }
}
