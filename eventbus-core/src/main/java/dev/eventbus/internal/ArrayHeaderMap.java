package dev.eventbus.internal;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * The read side shared by the library's header maps: names in an array, in insertion order, looked up by scanning
 * (a message has about a dozen headers, where this beats hashing), values supplied by the subclass, which may
 * decode them lazily. Immutable to callers: {@code put} and {@code remove} throw. {@code forEach} visits without an
 * entry object per header, which is how the bus reads headers on its hot paths. Subclasses must be thread-safe.
 */
public abstract class ArrayHeaderMap extends AbstractMap<String, String> {

    private final String[] names;
    private final int size;

    /** @param names the header names, distinct; the first {@code size} are used (not copied) */
    protected ArrayHeaderMap(String[] names, int size) {
        this.names = names;
        this.size = size;
    }

    /** The value of header {@code i}, {@code 0 <= i < size()}; never null. */
    protected abstract String valueAt(int i);

    @Override
    public final int size() {
        return size;
    }

    @Override
    public final boolean containsKey(Object key) {
        return indexOf(key) >= 0;
    }

    @Override
    public final String get(Object key) {
        int i = indexOf(key);
        return i < 0 ? null : valueAt(i);
    }

    private int indexOf(Object key) {
        for (int i = 0; i < size; i++) {
            if (names[i].equals(key)) {
                return i;
            }
        }
        return -1;
    }

    /** Whether a header name starts with {@code prefix}; reads names only (values may be decoded lazily). */
    public final boolean hasNameStartingWith(String prefix) {
        for (int i = 0; i < size; i++) {
            if (names[i].startsWith(prefix)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public final void forEach(BiConsumer<? super String, ? super String> action) {
        for (int i = 0; i < size; i++) {
            action.accept(names[i], valueAt(i));
        }
    }

    @Override
    public final Set<Entry<String, String>> entrySet() {
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
                        return new SimpleImmutableEntry<>(names[i], valueAt(i));
                    }
                };
            }

            @Override
            public int size() {
                return size;
            }
        };
    }
}
