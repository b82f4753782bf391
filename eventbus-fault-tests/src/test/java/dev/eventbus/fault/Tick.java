package dev.eventbus.fault;

import dev.eventbus.Event;
import dev.eventbus.EventType;

/**
 * The one event of the suite. {@code id()} is unique per test run ({@code key:seq}); {@code sentNanos} is the
 * publisher's {@link System#nanoTime()}, meaningful only when publisher and handler share a JVM (latency cases).
 */
@EventType(name = "fault.tick")
public record Tick(String key, long seq, long sentNanos) implements Event {

    @Override
    public String eventKey() {
        return key;
    }

    public String id() {
        return key + ":" + seq;
    }
}
