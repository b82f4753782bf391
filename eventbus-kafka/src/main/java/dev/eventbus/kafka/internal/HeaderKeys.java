package dev.eventbus.kafka.internal;

import dev.eventbus.spi.MessageHeaders;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Recognises the header keys every record carries ({@code ce_id}, {@code ce_type}, {@code content-type}...) from a
 * consumed header's key bytes, without the {@code String} kafka-clients would decode for {@link Header#key()}.
 *
 * <p>Why: {@code RecordHeader.key()} takes the header's monitor and decodes the key into a new {@code String} on
 * first access; with the 9 keys of a CloudEvents record that was 28% of a consumer worker's samples (JFR), more
 * than JSON decoding. kafka-clients has no public way to read the key bytes, so this reads {@code RecordHeader}'s
 * private {@code keyBuffer} field (present until {@code key()} is first called, which leaves the buffer's position
 * alone) through a {@link VarHandle} found once. When the field is missing (another kafka-clients version, a module
 * layout that does not open the package) or the header is another implementation, {@link #knownName} returns null
 * and callers decode the key as before: only the speed depends on it. {@code HeaderKeysTest} checks that the fast
 * path is on with the kafka-clients this module is built against.
 *
 * <p>Thread-safe: reads a buffer without moving its position.
 */
final class HeaderKeys {

    private static final VarHandle KEY_BUFFER = keyBufferHandle();

    /** Wire keys by length, and the message names they map to (as {@link CloudEventsBinding#messageName}). */
    private static final byte[][][] WIRE_BY_LENGTH = new byte[19][][];
    private static final String[][] NAME_BY_LENGTH = new String[19][];

    static {
        String[][] known = {
                {"ce_id", MessageHeaders.ID}, {"ce_type", MessageHeaders.TYPE}, {"ce_time", MessageHeaders.TIME},
                {"ce_source", MessageHeaders.SOURCE}, {"ce_subject", MessageHeaders.SUBJECT},
                {CloudEventsBinding.CONTENT_TYPE, MessageHeaders.DATACONTENTTYPE},
                {"ce_dataschema", MessageHeaders.DATASCHEMA}, {"ce_specversion", MessageHeaders.SPECVERSION},
                {"ce_traceparent", MessageHeaders.TRACEPARENT}, {"ce_causationid", MessageHeaders.CAUSATION_ID},
                {"ce_correlationid", MessageHeaders.CORRELATION_ID},
                {"ce_eventbusversion", MessageHeaders.SCHEMA_VERSION}};
        for (String[] k : known) {
            byte[] wire = k[0].getBytes(StandardCharsets.US_ASCII);
            int n = wire.length;
            byte[][] w = WIRE_BY_LENGTH[n];
            String[] m = NAME_BY_LENGTH[n];
            WIRE_BY_LENGTH[n] = w = w == null ? new byte[1][] : Arrays.copyOf(w, w.length + 1);
            NAME_BY_LENGTH[n] = m = m == null ? new String[1] : Arrays.copyOf(m, m.length + 1);
            w[w.length - 1] = wire;
            m[m.length - 1] = k[1];
        }
    }

    private HeaderKeys() {
    }

    private static VarHandle keyBufferHandle() {
        try {
            return MethodHandles.privateLookupIn(RecordHeader.class, MethodHandles.lookup())
                    .findVarHandle(RecordHeader.class, "keyBuffer", ByteBuffer.class);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null; // keys are decoded by kafka-clients instead: slower, same result
        }
    }

    /** Whether key bytes can be read (else every look-up answers null). */
    static boolean available() {
        return KEY_BUFFER != null;
    }

    /**
     * The message header name (one of {@link MessageHeaders}' constants) of a consumed header whose key is one of
     * the CloudEvents attributes every record carries, or null: another key, a key already decoded, or key bytes
     * that cannot be read. Null means "ask {@link Header#key()}", never "no such header".
     */
    static String knownName(Header header) {
        if (KEY_BUFFER == null || header.getClass() != RecordHeader.class) {
            return null;
        }
        ByteBuffer b = (ByteBuffer) KEY_BUFFER.get((RecordHeader) header);
        if (b == null) {
            return null; // key() was called: the String exists already
        }
        int len = b.remaining();
        if (len >= WIRE_BY_LENGTH.length) {
            return null;
        }
        byte[][] candidates = WIRE_BY_LENGTH[len];
        if (candidates == null) {
            return null;
        }
        for (int i = 0; i < candidates.length; i++) {
            if (equals(b, candidates[i])) {
                return NAME_BY_LENGTH[len][i];
            }
        }
        return null;
    }

    private static boolean equals(ByteBuffer b, byte[] wire) {
        int pos = b.position();
        if (b.hasArray()) {
            int from = b.arrayOffset() + pos;
            return Arrays.equals(b.array(), from, from + wire.length, wire, 0, wire.length);
        }
        for (int i = 0; i < wire.length; i++) {
            if (b.get(pos + i) != wire[i]) {
                return false;
            }
        }
        return true;
    }
}
