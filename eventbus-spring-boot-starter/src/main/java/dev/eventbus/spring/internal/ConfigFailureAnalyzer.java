package dev.eventbus.spring.internal;

import dev.eventbus.ConfigException;
import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/**
 * Turns a bus configuration error at startup into Spring Boot's "APPLICATION FAILED TO START" report, naming the
 * key. Stateless.
 */
public final class ConfigFailureAnalyzer extends AbstractFailureAnalyzer<ConfigException> {

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, ConfigException cause) {
        return new FailureAnalysis("The event bus could not be configured: " + cause.getMessage(),
                "Fix or remove the property '" + cause.key() + "' (in application.properties/yml, a profile, a "
                        + "system property or an EVENTBUS_* environment variable). The starter's configuration "
                        + "metadata lists every known eventbus.* key.", cause);
    }
}
