package dev.eventbus;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Core's side of consumer rate limits: it reads and validates {@code eventbus.group.<group>.rate}, and without the
 * rate limiter module on the classpath (as here) fails the build naming the key and the module.
 */
class RateLimitKeysTest {

    @Test
    void aRateWithoutTheModuleFailsNamingTheKeyAndTheArtifact() {
        assertThatThrownBy(() -> EventBus.builder().config(Map.of("eventbus.group.billing.rate", "200/s")).build())
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("eventbus.group.billing.rate")
                .hasMessageContaining("dev.eventbus:eventbus-ratelimit")
                .satisfies(e -> assertThat(((ConfigException) e).key()).isEqualTo("eventbus.group.billing.rate"));
    }

    @Test
    void aMalformedRateNamesTheKeyAndTheForm() {
        for (String bad : new String[]{"200", "200/h", "0/s", "fast", "-5/s", "2.5/s"}) {
            assertThatThrownBy(() -> EventBus.builder().config(Map.of("eventbus.group.billing.rate", bad)).build())
                    .as(bad)
                    .isInstanceOf(ConfigException.class)
                    .hasMessageContaining("eventbus.group.billing.rate")
                    .hasMessageContaining("<n>/s or <n>/m");
        }
    }

    @Test
    void aSettingOfTheModuleWithoutTheModuleNamesTheArtifact() {
        assertThatThrownBy(() -> EventBus.builder().config(Map.of("eventbus.rate.scope", "shared")).build())
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("eventbus.rate.scope")
                .hasMessageContaining("dev.eventbus:eventbus-ratelimit");
    }

    @Test
    void aMisspeltGroupSettingSaysWhatAGroupAccepts() {
        assertThatThrownBy(() -> EventBus.builder().config(Map.of("eventbus.group.billing.rte", "200/s")).build())
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining("eventbus.group.billing.rte")
                .hasMessageContaining("eventbus.group.<group>.rate");
    }

    @Test
    void ratesParseToPermitsPerPeriod() {
        assertThat(dev.eventbus.spi.RateLimit.parse("k", "200/s").perSecond()).isEqualTo(200.0);
        assertThat(dev.eventbus.spi.RateLimit.parse("k", " 30 / m ").perSecond()).isEqualTo(0.5);
        assertThat(dev.eventbus.spi.RateLimit.parse("k", "30/m")).hasToString("30/m");
    }
}
