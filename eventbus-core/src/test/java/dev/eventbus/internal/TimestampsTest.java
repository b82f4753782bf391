package dev.eventbus.internal;

import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.concurrent.ThreadLocalRandom;

import static org.assertj.core.api.Assertions.assertThat;

class TimestampsTest {

    @Test
    void agreesWithTheJdkOnWhatInstantToStringWrites() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        for (int i = 0; i < 20_000; i++) {
            Instant t = Instant.ofEpochSecond(r.nextLong(-5_000_000_000L, 10_000_000_000L), r.nextInt(1_000_000_000));
            if (i % 3 == 0) {
                t = Instant.ofEpochMilli(t.toEpochMilli());
            } else if (i % 3 == 1) {
                t = Instant.ofEpochSecond(t.getEpochSecond());
            }
            assertThat(Timestamps.parseUtc(t.toString())).as(t.toString()).isEqualTo(t);
            assertThat(Timestamps.format(t)).isEqualTo(t.toString());
        }
        for (LocalDate d = LocalDate.of(1899, 12, 25); d.isBefore(LocalDate.of(2101, 1, 5)); d = d.plusDays(1)) {
            Instant t = d.atStartOfDay().toInstant(ZoneOffset.UTC);
            assertThat(Timestamps.parseUtc(t.toString())).isEqualTo(t);
        }
    }

    @Test
    void instantsOfTheSameSecondShareTheCachedPrefixWithoutMixingSeconds() {
        long second = Instant.parse("2026-11-25T18:59:59Z").getEpochSecond();
        for (int i = 0; i < 1000; i++) {
            // Alternate inside one second, across the minute boundary and back, to hit and miss the cache.
            Instant t = Instant.ofEpochSecond(second + (i % 3 == 2 ? 1 : 0), i * 999_983L % 1_000_000_000L);
            assertThat(Timestamps.format(t)).isEqualTo(t.toString());
        }
        assertThat(Timestamps.format(Instant.parse("+12026-01-01T00:00:00Z"))).isEqualTo("+12026-01-01T00:00:00Z");
    }

    @Test
    void fallsBackForOtherRfc3339FormsAndRejectsGarbage() {
        assertThat(Timestamps.parseOrNull("2026-11-25T17:00:00+01:00")).isEqualTo(Instant.parse("2026-11-25T16:00:00Z"));
        assertThat(Timestamps.parseOrNull("2026-02-30T00:00:00Z")).isNull();
        assertThat(Timestamps.parseOrNull("yesterday")).isNull();
        assertThat(Timestamps.parseOrNull(null)).isNull();
        assertThat(Timestamps.parseUtc("2026-11-25T16:00:00.Z")).isNull();
    }
}
