package dev.eventbus.benchmarks.kafka;

import dev.eventbus.EventType;

/** The event the Kafka harness publishes; {@link #ofSize} pads it to about the asked JSON size. */
@EventType(name = BenchEvent.TYPE, version = 1, stream = BenchEvent.STREAM)
public record BenchEvent(String orderId, long seq, String payload) {

    public static final String TYPE = "bench.kafka.order";
    public static final String STREAM = "bench-kafka";
    /** Header carrying the intended send time (System.nanoTime) in the latency runs. */
    public static final String SENT_HEADER = "sentat";

    /** An event whose JSON body is about {@code bytes} long. */
    public static BenchEvent ofSize(String orderId, long seq, int bytes) {
        int overhead = "{\"orderId\":\"\",\"seq\":,\"payload\":\"\"}".length() + orderId.length()
                + Long.toString(seq).length();
        return new BenchEvent(orderId, seq, "x".repeat(Math.max(0, bytes - overhead)));
    }
}
