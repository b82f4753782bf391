package dev.eventbus.internal;

import java.util.Arrays;
import java.util.Objects;

/**
 * An immutable, insertion-ordered map for message headers: two parallel arrays, looked up by scanning. With the
 * dozen entries a message has, this is cheaper to build, read and iterate than a {@code LinkedHashMap}, which
 * profiled as the largest cost of encoding a small event. Thread-safe once built.
 */
public final class HeaderMap extends ArrayHeaderMap {

    private final String[] values;

    private HeaderMap(String[] keys, String[] values, int size) {
        super(keys, size);
        this.values = values;
    }

    @Override
    protected String valueAt(int i) {
        return values[i];
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
