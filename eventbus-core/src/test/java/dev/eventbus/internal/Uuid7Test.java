package dev.eventbus.internal;

import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.Set;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;

class Uuid7Test {

    @Test
    void writesCanonicalVersion7IdsThatSortInCreationOrder() {
        Set<String> seen = new HashSet<>();
        String previous = "";
        for (int i = 0; i < 10_000; i++) {
            String id = Uuid7.next();
            UUID parsed = UUID.fromString(id);
            assertThat(parsed.toString()).isEqualTo(id);
            assertThat(parsed.version()).isEqualTo(7);
            assertThat(parsed.variant()).isEqualTo(2);
            assertThat(id.compareTo(previous)).as(id + " after " + previous).isPositive();
            assertThat(seen.add(id)).isTrue();
            previous = id;
        }
    }
}
