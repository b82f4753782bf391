package dev.eventbus.kafka.internal;

import dev.eventbus.internal.ArrayHeaderMap;

import java.nio.charset.StandardCharsets;

/**
 * A record's headers as the message header map a handler sees: names already mapped from the wire, values decoded
 * from UTF-8 only when read. Built once per record on the consumer path, where a {@code LinkedHashMap} plus a
 * {@code String} per value cost more than everything else the transport does per record.
 *
 * <p>Read-only; insertion order; a name given twice keeps its last value (Kafka's {@code lastHeader}). Safe to
 * read from several threads (a value decoded twice by a race is equal either way).
 */
final class HeaderMap extends ArrayHeaderMap {

    private final byte[][] raw;
    private final String[] values;

    HeaderMap(String[] names, byte[][] raw, int size) {
        super(names, size);
        this.raw = raw;
        this.values = new String[size];
    }

    /** Adds or replaces; only while building. Returns the new size. */
    static int put(String[] names, byte[][] raw, int size, String name, byte[] value) {
        // Names are distinct in almost every record: compare the (cached) hash codes before the strings, since
        // this scan runs for every header of every record (18% of a transport worker's samples with equals).
        int h = name.hashCode();
        for (int i = 0; i < size; i++) {
            String n = names[i];
            if (n == name || (n.hashCode() == h && n.equals(name))) {
                raw[i] = value;
                return size;
            }
        }
        names[size] = name;
        raw[size] = value;
        return size + 1;
    }

    @Override
    protected String valueAt(int i) {
        String v = values[i];
        if (v == null) {
            v = new String(raw[i], StandardCharsets.UTF_8);
            values[i] = v;
        }
        return v;
    }
}
