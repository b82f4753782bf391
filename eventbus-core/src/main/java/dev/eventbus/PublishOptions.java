package dev.eventbus;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Per-publish settings: key, headers, delay, destination stream, priority.
 *
 * <pre>{@code
 * bus.publish(event, PublishOptions.builder().key(orderId).delay(Duration.ofMinutes(5)).build());
 * }</pre>
 *
 * <p>Immutable and thread-safe; build once and reuse.
 */
public final class PublishOptions {

    private static final PublishOptions NONE = new PublishOptions(new Builder());

    private final String key;
    private final Map<String, String> headers;
    private final Duration delay;
    private final String stream;
    private final int priority;

    private PublishOptions(Builder b) {
        this.key = b.key;
        this.headers = Map.copyOf(b.headers);
        this.delay = b.delay;
        this.stream = b.stream;
        this.priority = b.priority;
    }

    /** No options: the event's own key and type's stream, no delay. */
    public static PublishOptions none() {
        return NONE;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The key (CloudEvents {@code subject}) overriding {@link Event#eventKey()}, or null. */
    public String key() {
        return key;
    }

    /** Extra headers (CloudEvents extensions); unmodifiable. */
    public Map<String, String> headers() {
        return headers;
    }

    /** Deliver no earlier than this after publishing, or null. */
    public Duration delay() {
        return delay;
    }

    /** A destination stream overriding the event type's, or null. */
    public String stream() {
        return stream;
    }

    /** 0 (default) to 255, for transports that support priority. */
    public int priority() {
        return priority;
    }

    /** Builds {@link PublishOptions}. Not thread-safe. */
    public static final class Builder {
        private String key;
        private final Map<String, String> headers = new LinkedHashMap<>();
        private Duration delay;
        private String stream;
        private int priority;

        private Builder() {
        }

        public Builder key(String key) {
            this.key = key;
            return this;
        }

        /**
         * Adds a header. Names are CloudEvents extension names: lower-case letters and digits, at most 20 of them,
         * are safest on every transport (a longer such name still travels, with a WARN once per name: CloudEvents
         * consumers may refuse it). Names starting with {@code eventbus-} are reserved, and so is
         * {@code partitionkey}: set the key with {@link #key(String)}.
         *
         * @throws IllegalArgumentException for a reserved name
         */
        public Builder header(String name, String value) {
            Objects.requireNonNull(name, "header name");
            Objects.requireNonNull(value, "header value");
            if (name.startsWith("eventbus-")) {
                throw new IllegalArgumentException("header names starting with 'eventbus-' are reserved: " + name);
            }
            if (name.equals(dev.eventbus.spi.MessageHeaders.PARTITION_KEY)) {
                throw new IllegalArgumentException("'partitionkey' is the message key on the wire: set it with "
                        + "PublishOptions.Builder.key(...) instead of a header");
            }
            ExtensionNames.check(name);
            headers.put(name, value);
            return this;
        }

        public Builder delay(Duration delay) {
            if (delay != null && delay.isNegative()) {
                throw new IllegalArgumentException("delay must not be negative: " + delay);
            }
            this.delay = delay;
            return this;
        }

        public Builder stream(String stream) {
            this.stream = stream;
            return this;
        }

        public Builder priority(int priority) {
            if (priority < 0 || priority > 255) {
                throw new IllegalArgumentException("priority must be between 0 and 255, was " + priority);
            }
            this.priority = priority;
            return this;
        }

        public PublishOptions build() {
            return new PublishOptions(this);
        }
    }
}
