package dev.eventbus.ratelimit;

import dev.eventbus.ConfigException;
import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code eventbus.rate.scope=local} (the default): one Resilience4j limit per group in each instance. */
class LocalRateLimitTest {

    @EventType(name = "rate.local.tick", stream = "rate-local")
    record Tick(int n) {
    }

    private static EventBus bus(String group, String rate) {
        return EventBus.builder().service("rate-local")
                .config(Map.of("eventbus.dispatch", "async", "eventbus.dispatch.threads", "4",
                        "eventbus.group." + group + ".rate", rate))
                .build();
    }

    @Test
    void aLocalLimitHoldsTheRateWithinFivePercent() throws Exception {
        List<Long> stamps = new CopyOnWriteArrayList<>();
        Set<Integer> seen = ConcurrentHashMap.newKeySet();
        int total = 2600;
        try (EventBus bus = bus("metered", "200/s")) {
            bus.subscribe(Tick.class, "metered", t -> {
                stamps.add(System.nanoTime());
                seen.add(t.n());
            });
            for (int i = 0; i < total; i++) {
                bus.publish(new Tick(i));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (seen.size() < total && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
        }
        assertThat(seen).as("every event handled, none dropped").hasSize(total);
        long start = stamps.stream().mapToLong(Long::longValue).min().orElseThrow() + Rates.seconds(1);
        double rate = Rates.perSecond(stamps, start, 10);
        System.out.printf("local limit 200/s: measured %.1f/s over 10 s%n", rate);
        assertThat(rate).as("handlings per second over 10 s").isBetween(190.0, 210.0);
    }

    @Test
    void aGroupWithoutALimitIsNotHeldBack() throws Exception {
        List<Long> free = new CopyOnWriteArrayList<>();
        try (EventBus bus = bus("other", "5/s")) {
            bus.subscribe(Tick.class, "unlimited", t -> free.add(System.nanoTime()));
            long t0 = System.nanoTime();
            for (int i = 0; i < 400; i++) {
                bus.publish(new Tick(i));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (free.size() < 400 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(free).hasSize(400);
            double seconds = (free.stream().mapToLong(Long::longValue).max().orElseThrow() - t0) / 1e9;
            assertThat(seconds).as("400 events of a group without a limit, while another group has 5/s").isLessThan(2.0);
        }
    }

    @Test
    void aSlowLimitSpacesTheHandlings() throws Exception {
        List<Long> limited = new CopyOnWriteArrayList<>();
        try (EventBus bus = bus("slow", "10/s")) {
            bus.subscribe(Tick.class, "slow", t -> limited.add(System.nanoTime()));
            long t0 = System.nanoTime();
            for (int i = 0; i < 21; i++) {
                bus.publish(new Tick(i));
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (limited.size() < 21 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(limited).hasSize(21);
            double seconds = (limited.stream().mapToLong(Long::longValue).max().orElseThrow() - t0) / 1e9;
            assertThat(seconds).as("21 events at 10/s: the first at once, the last 2 s later").isBetween(1.9, 2.6);
        }
    }

    @Test
    void closeDoesNotWaitForALimitedHandler() throws Exception {
        List<Integer> got = new CopyOnWriteArrayList<>();
        EventBus bus = bus("trickle", "1/m");
        bus.subscribe(Tick.class, "trickle", t -> got.add(t.n()));
        for (int i = 0; i < 3; i++) {
            bus.publish(new Tick(i));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (got.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        Thread.sleep(300); // the next handlers now wait a minute for their permit
        assertThat(got).as("1/m: one handled, the others waiting").hasSize(1);
        long t0 = System.nanoTime();
        bus.close(Duration.ofSeconds(30));
        double closeSeconds = (System.nanoTime() - t0) / 1e9;
        assertThat(closeSeconds).as("close() wakes the waiting handlers instead of waiting a minute").isLessThan(5.0);
    }

    @Test
    void aBadRateNamesTheKeyAndTheForm() {
        assertThatThrownBy(() -> bus("billing", "200/h"))
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("eventbus.group.billing.rate")
                .hasMessageContaining("<n>/s or <n>/m");
    }

    @Test
    void aTypoInTheModulesKeysIsCaughtAtBuild() {
        assertThatThrownBy(() -> EventBus.builder().config(Map.of("eventbus.group.x.rate", "5/s",
                "eventbus.rate.scop", "shared")).build())
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("eventbus.rate.scop")
                .hasMessageContaining("did you mean 'eventbus.rate.scope'");
        assertThatThrownBy(() -> EventBus.builder().config(Map.of("eventbus.group.x.rate", "5/s",
                "eventbus.rate.scope", "global")).build())
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("eventbus.rate.scope")
                .hasMessageContaining("local or shared");
    }
}
