package dev.eventbus.ratelimit;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Three bus instances of one group on the real RabbitMQ server share one 200/s limit through the real Redis: the
 * aggregate holds within 10% over 30 s, and what the group has not handled yet waits in the broker's queue.
 */
class SharedRateLimitRabbitMqTest {

    static final String RABBIT = System.getenv().getOrDefault("EVENTBUS_TEST_RABBITMQ_URI", "amqp://guest:guest@localhost:5672/");

    @EventType(name = "rate.shared.order", stream = "rate-orders")
    record Order(int n) {
    }

    @BeforeAll
    static void servers() {
        RedisTestSupport.requireRedis();
        try (Connection c = factory().newConnection("eventbus-rate-probe")) {
            c.createChannel().close();
        } catch (Exception e) {
            throw new AssertionError("RabbitMQ is not reachable at " + RABBIT + " (" + e + "). Start the local server "
                    + "with `rabbitmq-server -detached` (no plugin needed), or point EVENTBUS_TEST_RABBITMQ_URI at one.", e);
        }
    }

    static ConnectionFactory factory() {
        try {
            ConnectionFactory f = new ConnectionFactory();
            f.setUri(RABBIT);
            if (f.getVirtualHost().isEmpty()) {
                f.setVirtualHost("/"); // "amqp://host:5672/" names the default vhost, as the transport reads it
            }
            return f;
        } catch (Exception e) {
            throw new AssertionError("bad EVENTBUS_TEST_RABBITMQ_URI " + RABBIT, e);
        }
    }

    @Test
    void threeInstancesShareOneLimitAndTheRestWaitsInTheBroker() throws Exception {
        String id = UUID.randomUUID().toString().substring(0, 8);
        String prefix = "ebrate-" + id + ".";
        String group = "billing";
        String redisPrefix = "eventbus-test:" + id + ":";
        int total = 9000;
        List<Long> stamps = new CopyOnWriteArrayList<>();
        Set<Integer> handled = ConcurrentHashMap.newKeySet();
        List<EventBus> buses = new ArrayList<>();
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        String queue = prefix + "rate-orders." + group;
        try {
            for (int i = 0; i < 3; i++) {
                Properties p = new Properties();
                p.setProperty("eventbus.service", "rate-shared");
                p.setProperty("eventbus.transport", "rabbitmq");
                p.setProperty("eventbus.rabbitmq.uri", RABBIT);
                p.setProperty("eventbus.rabbitmq.prefix", prefix);
                p.setProperty("eventbus.consumer.ordered-by-key", "false");
                p.setProperty("eventbus.group." + group + ".rate", "200/s");
                p.setProperty("eventbus.rate.scope", "shared");
                p.setProperty("eventbus.rate.redis-uri", RedisTestSupport.URI);
                p.setProperty("eventbus.rate.redis-key-prefix", redisPrefix);
                EventBus bus = EventBus.fromConfig(p);
                buses.add(bus);
                bus.subscribe(Order.class, group, o -> {
                    go.await(); // publishing first: on 2 loaded cores it would steal the consumers' CPU
                    stamps.add(System.nanoTime());
                    handled.add(o.n());
                });
            }
            List<CompletableFuture<Void>> sent = new ArrayList<>(total);
            for (int i = 0; i < total; i++) {
                sent.add(buses.get(i % 3).publish(new Order(i)));
            }
            CompletableFuture.allOf(sent.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
            go.countDown();
            long start = System.nanoTime() + Rates.seconds(5); // past the JIT's warm-up on a loaded machine
            long mid = start + Rates.seconds(15);
            while (System.nanoTime() < mid) {
                Thread.sleep(100);
            }
            long waiting = readyMessages(queue);
            assertThat(waiting).as("messages the group could not take yet wait in its RabbitMQ queue").isGreaterThan(1000);
            while (System.nanoTime() < start + Rates.seconds(30)) {
                Thread.sleep(100);
            }
            double rate = Rates.perSecond(stamps, start, 30);
            System.out.printf("shared limit 200/s over 3 instances: measured %.1f/s over 30 s (per 5 s: %s); %d "
                    + "waiting in the broker at 15 s; load average %s%n", rate, Rates.buckets(stamps, start, 6, 5),
                    waiting, java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
            assertThat(rate).as("aggregate handlings per second of the 3 instances over 30 s").isBetween(180.0, 220.0);

            try (RedisClient client = RedisClient.create(RedisTestSupport.URI);
                 StatefulRedisConnection<String, String> redis = client.connect()) {
                assertThat(redis.sync().zcard(redisPrefix + group + ":instances"))
                        .as("the 3 instances' heartbeats in Redis").isEqualTo(3L);
                redis.sync().del(redisPrefix + group, redisPrefix + group + ":instances");
            }
        } finally {
            for (EventBus b : buses) {
                b.close(Duration.ofSeconds(20));
            }
        }
        long left = readyMessages(queue);
        assertThat(handled.size() + left).as("handled + still in the broker: nothing dropped").isEqualTo(total);
        assertThat(left).as("the rest is still in the broker after close").isGreaterThan(0);
        deleteTopology(prefix, group);
    }

    private static long readyMessages(String queue) throws Exception {
        try (Connection c = factory().newConnection("eventbus-rate-test")) {
            Channel ch = c.createChannel();
            return ch.queueDeclarePassive(queue).getMessageCount();
        }
    }

    private static void deleteTopology(String prefix, String group) throws Exception {
        try (Connection c = factory().newConnection("eventbus-rate-cleanup")) {
            for (String q : List.of(prefix + "rate-orders." + group, prefix + "rate-orders." + group + ".dlq")) {
                Channel ch = c.createChannel();
                try {
                    ch.queueDelete(q);
                    ch.close();
                } catch (IOException e) {
                    // not declared
                }
            }
            for (String x : List.of(prefix + "rate-orders", prefix + "rate-orders.delay")) {
                Channel ch = c.createChannel();
                try {
                    ch.exchangeDelete(x);
                    ch.close();
                } catch (IOException e) {
                    // not declared
                }
            }
        }
    }
}
