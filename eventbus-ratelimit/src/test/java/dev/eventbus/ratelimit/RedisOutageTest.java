package dev.eventbus.ratelimit;

import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import io.lettuce.core.RedisClient;
import io.lettuce.core.api.StatefulRedisConnection;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A shared limit whose Redis dies mid-run: each of the two instances falls back to half the limit (the instance count
 * last seen in Redis), nothing is lost, and the shared limit resumes when Redis is back. The Redis here is this
 * test's own, on a free port: the shared one on 6379 is never stopped.
 */
class RedisOutageTest {

    @EventType(name = "rate.outage.job", stream = "rate-outage")
    record Job(int instance, int n) {
    }

    @Test
    void redisStoppedMidRunFallsBackToALocalShareAndComesBack() throws Exception {
        int perInstance = 1200;
        String group = "jobs";
        List<Long> stamps = new CopyOnWriteArrayList<>();
        Set<String> handled = ConcurrentHashMap.newKeySet();
        List<EventBus> buses = new ArrayList<>();
        try (RedisTestSupport.PrivateRedis redis = new RedisTestSupport.PrivateRedis(RedisTestSupport.freePort()).start()) {
            try {
                for (int i = 0; i < 2; i++) {
                    EventBus bus = EventBus.builder().service("rate-outage").config(Map.of(
                            "eventbus.dispatch", "async",
                            "eventbus.group." + group + ".rate", "100/s",
                            "eventbus.rate.scope", "shared",
                            "eventbus.rate.redis-uri", redis.uri(),
                            "eventbus.rate.redis-timeout", "300ms")).build();
                    buses.add(bus);
                    bus.subscribe(Job.class, group, j -> {
                        stamps.add(System.nanoTime());
                        handled.add(j.instance() + "/" + j.n());
                    });
                }
                Thread.sleep(1500); // two heartbeats: each instance has seen the other in Redis
                long t0 = System.nanoTime();
                for (int n = 0; n < perInstance; n++) {
                    for (int i = 0; i < 2; i++) {
                        buses.get(i).publish(new Job(i, n));
                    }
                }
                sleepUntil(t0 + Rates.seconds(6));
                double shared = Rates.perSecond(stamps, t0 + Rates.seconds(2), 4);

                redis.kill();
                long killed = System.nanoTime();
                sleepUntil(killed + Rates.seconds(8));
                double fallback = Rates.perSecond(stamps, killed + Rates.seconds(2), 6);
                System.out.printf("Redis outage: shared %.1f/s before, %.1f/s during (per 2 s: %s); load average %s%n",
                        shared, fallback, Rates.buckets(stamps, killed, 4, 2),
                        java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
                assertThat(shared).as("both instances together, sharing 100/s through Redis").isBetween(85.0, 115.0);
                assertThat(fallback).as("during the outage each instance allows 100/s / 2 instances seen")
                        .isBetween(80.0, 120.0);

                redis.start();
                try (RedisClient client = RedisClient.create(redis.uri());
                     StatefulRedisConnection<String, String> c = client.connect()) {
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
                    while ((c.sync().exists("eventbus:rate:" + group) == 0
                            || c.sync().zcard("eventbus:rate:" + group + ":instances") < 2)
                            && System.nanoTime() < deadline) {
                        Thread.sleep(100);
                    }
                    assertThat(c.sync().exists("eventbus:rate:" + group))
                            .as("handlings reserve their slots in the restarted Redis again").isEqualTo(1L);
                    assertThat(c.sync().zcard("eventbus:rate:" + group + ":instances"))
                            .as("both instances' heartbeats are back").isEqualTo(2L);
                }
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (handled.size() < 2 * perInstance && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
                assertThat(handled).as("every event handled once, none lost in the outage").hasSize(2 * perInstance);
                assertThat(stamps).hasSize(2 * perInstance);
            } finally {
                for (EventBus b : buses) {
                    b.close(Duration.ofSeconds(10));
                }
            }
        }
    }

    private static void sleepUntil(long nanoTime) throws InterruptedException {
        long rest = nanoTime - System.nanoTime();
        if (rest > 0) {
            TimeUnit.NANOSECONDS.sleep(rest);
        }
    }
}
