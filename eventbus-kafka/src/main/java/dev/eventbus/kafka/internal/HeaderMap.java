package dev.eventbus.kafka.internal;

import java.nio.charset.StandardCharsets;
import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * A record's headers as the message header map a handler sees: names already mapped from the wire, values decoded
 * from UTF-8 only when read. Built once per record on the consumer path, where a {@code LinkedHashMap} plus a
 * {@code String} per value cost more than everything else the transport does per record.
 *
 * <p>Read-only; insertion order; a name given twice keeps its last value (Kafka's {@code lastHeader}). Safe to
 * read from several threads (a value decoded twice by a race is equal either way).
 */
final class HeaderMap extends AbstractMap<String, String> {

    private final String[] names;
    private final byte[][] raw;
    private final String[] values;
    private final int size;

    HeaderMap(String[] names, byte[][] raw, int size) {
        this.names = names;
        this.raw = raw;
        this.values = new String[size];
        this.size = size;
    }

    /** Adds or replaces; only while building. Returns the new size. */
    static int put(String[] names, byte[][] raw, int size, String name, byte[] value) {
        for (int i = 0; i < size; i++) {
            if (names[i].equals(name)) {
                raw[i] = value;
                return size;
            }
        }
        names[size] = name;
        raw[size] = value;
        return size + 1;
    }

    private String value(int i) {
        String v = values[i];
        if (v == null) {
            v = new String(raw[i], StandardCharsets.UTF_8);
            values[i] = v;
        }
        return v;
    }

    private int indexOf(Object name) {
        if (name instanceof String) {
            for (int i = 0; i < size; i++) {
                if (names[i].equals(name)) {
                    return i;
                }
            }
        }
        return -1;
    }

    @Override
    public String get(Object key) {
        int i = indexOf(key);
        return i < 0 ? null : value(i);
    }

    @Override
    public boolean containsKey(Object key) {
        return indexOf(key) >= 0;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public Set<Entry<String, String>> entrySet() {
        return new AbstractSet<>() {
            @Override
            public Iterator<Entry<String, String>> iterator() {
                return new Iterator<>() {
                    private int next;

                    @Override
                    public boolean hasNext() {
                        return next < size;
                    }

                    @Override
                    public Entry<String, String> next() {
                        if (next >= size) {
                            throw new NoSuchElementException();
                        }
                        int i = next++;
                        return new SimpleImmutableEntry<>(names[i], value(i));
                    }
                };
            }

            @Override
            public int size() {
                return size;
            }
        };
    }

    @Override
    public void forEach(java.util.function.BiConsumer<? super String, ? super String> action) {
        for (int i = 0; i < size; i++) {
            action.accept(names[i], value(i));
        }
    }
}
