package dev.eventbus.micrometer;

import dev.eventbus.jdbc.Inbox;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.MeterBinder;

import java.util.Objects;

/**
 * Micrometer meters for an {@link Inbox}: events handled once through it, and duplicates it dropped (function
 * counters over its own counters: nothing is added to a handling).
 *
 * <pre>{@code
 * InboxMetrics.bind(inbox, "orders", registry);
 * }</pre>
 *
 * <p>Thread-safe; closes nothing.
 */
public final class InboxMetrics implements MeterBinder {

    /** Events handled (committed) through the inbox. */
    public static final String HANDLED = "eventbus.inbox.handled";
    /** Duplicates the inbox recognised and skipped. */
    public static final String DUPLICATES = "eventbus.inbox.duplicates";

    private final Inbox inbox;
    private final Tags tags;

    /** Meters of {@code inbox}, tagged {@code eventbus.inbox=name}. */
    public InboxMetrics(Inbox inbox, String name) {
        this.inbox = Objects.requireNonNull(inbox, "inbox");
        this.tags = Tags.of("eventbus.inbox", Objects.requireNonNull(name, "name"));
    }

    /** The one line: binds {@code inbox}'s meters to {@code registry}. */
    public static InboxMetrics bind(Inbox inbox, String name, MeterRegistry registry) {
        InboxMetrics m = new InboxMetrics(inbox, name);
        m.bindTo(registry);
        return m;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        FunctionCounter.builder(HANDLED, inbox, Inbox::handled).description("events handled once through the inbox")
                .tags(tags).register(registry);
        FunctionCounter.builder(DUPLICATES, inbox, Inbox::duplicates).description("duplicates the inbox skipped")
                .tags(tags).register(registry);
    }
}
