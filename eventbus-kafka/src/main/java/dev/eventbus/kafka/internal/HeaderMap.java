package dev.eventbus.kafka.internal;

import dev.eventbus.internal.ArrayHeaderMap;
import dev.eventbus.spi.MessageHeaders;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A record's headers as the message header map a handler sees: names already mapped from the wire, values decoded
 * from UTF-8 only when read. Built once per record on the consumer path, where a {@code LinkedHashMap} plus a
 * {@code String} per value cost more than everything else the transport does per record.
 *
 * <p>Read-only; insertion order; a name given twice keeps its last value (Kafka's {@code lastHeader}). Safe to
 * read from several threads (a value decoded twice by a race is equal either way).
 */
final class HeaderMap extends ArrayHeaderMap {

    private final String[] names;
    private final byte[][] raw;
    private final String[] values;

    HeaderMap(String[] names, byte[][] raw, int size) {
        super(names, size);
        this.names = names;
        this.raw = raw;
        this.values = new String[size];
    }

    /** Adds or replaces; only while building. Returns the new size. */
    static int put(String[] names, byte[][] raw, int size, String name, byte[] value) {
        // Runs for every header of every record. Names are nearly always MessageHeaders' constants (HeaderKeys,
        // messageName), so identity finds a repeated one, and a length check rejects most others before equals. Comparing
        // hash codes first instead cost more: with it, 28% of the worker path's JFR samples sat in String.hashCode
        // here, and dropping it took the path from 2.41/1.89 to 1.76/1.55 us per record (alternated JVMs).
        for (int i = 0; i < size; i++) {
            String n = names[i];
            if (n == name || (n.length() == name.length() && n.equals(name))) {
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
            v = decode(names[i], raw[i]);
            values[i] = v;
        }
        return v;
    }

    /** The last decoded value of an attribute that repeats from record to record, with its bytes. */
    private record Last(byte[] bytes, String text) {
    }

    // One entry per attribute: a stream's records nearly all carry the same specversion, source, type, content
    // type and schema version, and the bus reads every header of every record, so these five would otherwise be
    // a new String each; the record's bytes (~20) are compared instead. A plain array: a Last is immutable (final
    // fields), so a racing reader sees an old or a new entry, both whole, and a race only replaces one.
    private static final Last[] LAST = new Last[5];

    private static String decode(String name, byte[] bytes) {
        int k = repeatingIndex(name);
        if (k < 0) {
            return new String(bytes, StandardCharsets.UTF_8);
        }
        Last l = LAST[k];
        if (l != null && Arrays.equals(l.bytes, bytes)) {
            return l.text;
        }
        String text = new String(bytes, StandardCharsets.UTF_8);
        LAST[k] = new Last(bytes, text);
        return text;
    }

    /** Identity: the names of these attributes are {@link CloudEventsBinding#messageName}'s constants. */
    private static int repeatingIndex(String name) {
        if (name == MessageHeaders.TYPE) {
            return 0;
        } else if (name == MessageHeaders.SOURCE) {
            return 1;
        } else if (name == MessageHeaders.SPECVERSION) {
            return 2;
        } else if (name == MessageHeaders.DATACONTENTTYPE) {
            return 3;
        } else if (name == MessageHeaders.SCHEMA_VERSION) {
            return 4;
        }
        return -1;
    }
}
