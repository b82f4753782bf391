package dev.eventbus.internal;

import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** Per-group keys ({@code eventbus.group.<group>.*}) and the environment variables that set them. */
class GroupKeysTest {

    @Test
    void theGroupIsWhatLiesBetweenThePrefixAndAKnownSetting() {
        assertThat(ConfigKeys.groupOf("eventbus.group.audit.batch.max-size")).isEqualTo("audit");
        assertThat(ConfigKeys.groupOf("eventbus.group.billing.eu.batch.max-wait")).isEqualTo("billing.eu");
        assertThat(ConfigKeys.groupOf("eventbus.group.audit.batch.size")).isNull();
        assertThat(ConfigKeys.groupOf("eventbus.group.batch.max-size")).isNull();
    }

    @Test
    void environmentVariablesJoinTheGroupsWordsWithDashes() {
        assertThat(ConfigKeys.keyOfVariable("EVENTBUS_GROUP_AUDIT_LOG_BATCH_MAX_SIZE", Map.of(), Map.of()))
                .isEqualTo("eventbus.group.audit-log.batch.max-size");
        assertThat(ConfigKeys.keyOfVariable("EVENTBUS_GROUP_AUDIT_BATCH_MAX_WAIT", Map.of(), Map.of()))
                .isEqualTo("eventbus.group.audit.batch.max-wait");
        assertThat(ConfigKeys.keyOfVariable("EVENTBUS_GROUP_AUDIT_LOG_RATE", Map.of(), Map.of()))
                .isEqualTo("eventbus.group.audit-log.rate");
        assertThat(ConfigKeys.keyOfVariable("EVENTBUS_GROUP_AUDIT_BATCH_SIZE", Map.of(), Map.of())).isNull();
    }
}
