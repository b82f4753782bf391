package dev.eventbus.jdbc.internal;

import dev.eventbus.jdbc.SchemaMode;

import java.time.Duration;

/** Everything a {@code JdbcTransport} was configured with, validated by its builder. */
public record TransportSettings(String prefix, SchemaMode schemaMode, int partitions, int fetchSize,
                                Duration pollMin, Duration pollMax, Duration lease, Duration heartbeat,
                                Duration commitInterval, Duration retention, Duration retentionInterval,
                                boolean startAtEarliest, boolean listenNotify, int appendBatch) {

    public String stream() {
        return prefix + "stream";
    }

    public String log() {
        return prefix + "log";
    }

    public String cursor() {
        return prefix + "cursor";
    }

    public String member() {
        return prefix + "member";
    }

    public String retry() {
        return prefix + "retry";
    }

    public String deadLetter() {
        return prefix + "dead_letter";
    }

    /** The PostgreSQL notification channel appenders notify and listeners listen on. */
    public String channel() {
        return (prefix + "log").replace('.', '_').toLowerCase(java.util.Locale.ROOT);
    }
}
