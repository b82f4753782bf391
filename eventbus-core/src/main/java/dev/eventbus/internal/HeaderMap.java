package dev.eventbus.internal;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Arrays;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.Set;

/**
 * An immutable, insertion-ordered map for message headers: two parallel arrays, looked up by scanning. With the
 * dozen entries a message has, this is cheaper to build, read and iterate than a {@code LinkedHashMap}, which
 * profiled as the largest cost of encoding a small event. Thread-safe once built.
 */
public final class HeaderMap extends AbstractMap<String, String> {

    private final String[] keys;
    private final String[] values;
    private final int size;

    private HeaderMap(String[] keys, String[] values, int size) {
        this.keys = keys;
        this.values = values;
        this.size = size;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public boolean containsKey(Object key) {
        return indexOf(key) >= 0;
    }

    @Override
    public String get(Object key) {
        int i = indexOf(key);
        return i < 0 ? null : values[i];
    }

    private int indexOf(Object key) {
        for (int i = 0; i < size; i++) {
            if (keys[i].equals(key)) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public Set<Entry<String, String>> entrySet() {
        return new AbstractSet<>() {
            @Override
            public Iterator<Entry<String, String>> iterator() {
                return new Iterator<>() {
                    private int i;

                    @Override
                    public boolean hasNext() {
                        return i < size;
                    }

                    @Override
                    public Entry<String, String> next() {
                        if (i >= size) {
                            throw new NoSuchElementException();
                        }
                        Entry<String, String> e = new SimpleImmutableEntry<>(keys[i], values[i]);
                        i++;
                        return e;
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
            action.accept(keys[i], values[i]);
        }
    }

    /** Builds a {@link HeaderMap}. Not thread-safe. */
    public static final class Builder {
        private String[] keys;
        private String[] values;
        private int size;

        public Builder(int expected) {
            keys = new String[Math.max(4, expected)];
            values = new String[keys.length];
        }

        /** Sets {@code key} (replacing an earlier value); a null value is skipped. */
        public Builder put(String key, String value) {
            Objects.requireNonNull(key, "header name");
            if (value == null) {
                return this;
            }
            for (int i = 0; i < size; i++) {
                if (keys[i].equals(key)) {
                    values[i] = value;
                    return this;
                }
            }
            return append(key, value);
        }

        /** Sets {@code key} unless it is set already. */
        public Builder putIfAbsent(String key, String value) {
            for (int i = 0; i < size; i++) {
                if (keys[i].equals(key)) {
                    return this;
                }
            }
            return value == null ? this : append(key, value);
        }

        /** Appends without looking for an earlier value: only for keys known to be new. */
        public Builder append(String key, String value) {
            if (size == keys.length) {
                keys = Arrays.copyOf(keys, size * 2);
                values = Arrays.copyOf(values, size * 2);
            }
            keys[size] = key;
            values[size] = value;
            size++;
            return this;
        }

        public HeaderMap build() {
            return new HeaderMap(keys, values, size);
        }
    }
}
