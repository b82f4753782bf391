package dev.eventbus.kafka.internal;

import java.util.Arrays;
import java.util.Base64;
import java.util.BitSet;

/**
 * The offsets of one partition that are already decided beyond its committed offset, written into the offset
 * commit's metadata so that a new owner of the partition (after a rebalance or a restart) skips them instead of
 * handling them again. The same idea as the encoded incomplete-offset map of Confluent's Parallel Consumer.
 *
 * <h2>Format</h2>
 * {@code eb1:} followed by URL-safe base64 (no padding) of unsigned LEB128 varints: alternating run lengths of
 * undecided and decided offsets, starting at the committed offset (which is always undecided, so the first run is
 * at least 1). Offsets that hold no record (transaction markers, compacted away) count as undecided; they are
 * never delivered anyway. Example: committed offset 100, decided 101-140 and 150: runs 1, 40, 9, 1.
 *
 * <h2>Bounded</h2>
 * The broker refuses a commit whose metadata is longer than {@code offset.metadata.max.bytes} (default 4096), so
 * the encoder stops at {@link #MAX_CHARS} characters: it keeps the runs that fit (the ones nearest the committed
 * offset) and drops the rest. Dropping is safe: a decided offset that is not written down is only handled again,
 * exactly as without this map. A partition with thousands of alternating runs (many keys, one slow) is the case
 * that overflows.
 *
 * <p>Metadata that does not start with {@code eb1:} (another client's) or does not parse is ignored. Stateless;
 * encoders are single-threaded.
 */
final class FinishedOffsets {

    /** Prefix and format version. */
    static final String PREFIX = "eb1:";
    /** Well under the broker default {@code offset.metadata.max.bytes=4096}, leaving room for a future version. */
    static final int MAX_CHARS = 4000;

    private FinishedOffsets() {
    }

    /** Encodes ascending decided offsets above {@code base} (the offset to be committed). */
    static Encoder encoder(long base) {
        return new Encoder(base, MAX_CHARS);
    }

    static Encoder encoder(long base, int maxChars) {
        return new Encoder(base, maxChars);
    }

    /**
     * Reads what {@link Encoder#finish()} wrote for the committed offset {@code base}.
     *
     * @return the decided offsets, or null when the metadata is empty, foreign or damaged
     */
    static Decided decode(long base, String metadata) {
        if (metadata == null || !metadata.startsWith(PREFIX) || base < 0) {
            return null;
        }
        byte[] bytes;
        try {
            bytes = Base64.getUrlDecoder().decode(metadata.substring(PREFIX.length()));
        } catch (IllegalArgumentException e) {
            return null;
        }
        BitSet bits = new BitSet();
        long position = 0; // relative to base
        boolean decided = false;
        int i = 0;
        while (i < bytes.length) {
            long run = 0;
            int shift = 0;
            while (true) {
                if (i >= bytes.length || shift > 28) {
                    return null;
                }
                byte b = bytes[i++];
                run |= (long) (b & 0x7f) << shift;
                if (b >= 0) {
                    break;
                }
                shift += 7;
            }
            if (run <= 0 || position + run > Integer.MAX_VALUE) {
                return null;
            }
            if (decided) {
                bits.set((int) position, (int) (position + run));
            }
            position += run;
            decided = !decided;
        }
        return bits.isEmpty() ? null : new Decided(base, bits);
    }

    /** Decided offsets above a committed offset: {@code base + i} for every set bit {@code i}. */
    record Decided(long base, BitSet bits) {

        boolean contains(long offset) {
            long rel = offset - base;
            return rel > 0 && rel < Integer.MAX_VALUE && bits.get((int) rel);
        }

        /** One past the highest decided offset. */
        long end() {
            return base + bits.length();
        }

        int count() {
            return bits.cardinality();
        }
    }

    /** Builds the metadata from decided offsets given in ascending order. */
    static final class Encoder {
        private final long base;
        private final int maxBytes;
        private byte[] buf = new byte[32];
        private int len;
        /** Bytes written up to the end of the last complete decided run. */
        private int complete;
        private long runStart = -1;
        private long runEnd = -1;
        private long coveredTo;
        private boolean full;
        private int dropped;

        private Encoder(long base, int maxChars) {
            this.base = base;
            this.coveredTo = base; // offsets below base + 1 are accounted for (base itself is undecided)
            this.maxBytes = Math.max(0, (maxChars - PREFIX.length()) * 3 / 4);
        }

        /** Adds one decided offset; ignored unless above the base and above the previous one. */
        void add(long offset) {
            if (offset <= base || offset < runEnd) {
                return;
            }
            if (full) {
                dropped++;
                return;
            }
            if (offset == runEnd) {
                runEnd++;
                return;
            }
            flushRun();
            if (full) {
                dropped++;
                return;
            }
            runStart = offset;
            runEnd = offset + 1;
        }

        /** The metadata; empty when nothing is decided above the base. */
        String finish() {
            flushRun();
            if (complete == 0) {
                return "";
            }
            return PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(Arrays.copyOf(buf, complete));
        }

        /** True once a run did not fit: later offsets are left out (the walk over a long list can stop). */
        boolean full() {
            return full;
        }

        /** Decided offsets left out because the metadata would have been too long. */
        int dropped() {
            return dropped;
        }

        private void flushRun() {
            if (runStart < 0 || full) {
                return;
            }
            long undecided = runStart - coveredTo;
            long decided = runEnd - runStart;
            int mark = len;
            writeVarint(undecided);
            writeVarint(decided);
            if (len > maxBytes) {
                len = mark;
                full = true;
                dropped += (int) Math.min(Integer.MAX_VALUE, decided);
            } else {
                complete = len;
                coveredTo = runEnd;
            }
            runStart = -1;
        }

        private void writeVarint(long v) {
            if (buf.length - len < 10) {
                buf = Arrays.copyOf(buf, buf.length * 2);
            }
            while ((v & ~0x7fL) != 0) {
                buf[len++] = (byte) ((v & 0x7f) | 0x80);
                v >>>= 7;
            }
            buf[len++] = (byte) v;
        }
    }
}
