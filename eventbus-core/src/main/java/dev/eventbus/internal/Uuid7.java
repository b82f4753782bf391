package dev.eventbus.internal;

import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Time-ordered UUIDs (RFC 9562 version 7): 48 bits of Unix milliseconds, then a counter seeded randomly each
 * millisecond so ids made in the same millisecond still sort in creation order, then random bits.
 *
 * <p>Thread-safe and lock-free. The random tail comes from {@link ThreadLocalRandom} salted once per process from
 * {@link SecureRandom}, which is enough for uniqueness (not for secrecy: ids are not secrets).
 */
public final class Uuid7 {

    private static final AtomicLong LAST = new AtomicLong(); // (millis << 12) | counter
    private static final long SALT = new SecureRandom().nextLong();
    private static final byte[] HEX = "0123456789abcdef".getBytes(StandardCharsets.US_ASCII);

    private Uuid7() {
    }

    /** A new UUIDv7 in its canonical 36-character form. */
    public static String next() {
        long now = System.currentTimeMillis();
        long stamp;
        while (true) {
            long last = LAST.get();
            long lastMillis = last >>> 12;
            if (now > lastMillis) {
                stamp = now << 12;
            } else {
                stamp = last + 1; // same (or earlier: clock stepped back) millisecond: count on, keep order
            }
            if (LAST.compareAndSet(last, stamp)) {
                break;
            }
        }
        long millis = stamp >>> 12;
        long counter = stamp & 0xFFF;
        long msb = (millis << 16) | 0x7000L | counter;
        long lsb = (nextRandom() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
        return format(msb, lsb);
    }

    private static long nextRandom() {
        // Per-thread generator (no shared CAS per id) salted once per process from SecureRandom, so two processes
        // whose thread-local generators happened to start alike still draw different tails.
        return ThreadLocalRandom.current().nextLong() ^ SALT;
    }

    private static String format(long msb, long lsb) {
        byte[] c = new byte[36]; // ASCII: the String copies it as Latin-1, with no char[] to compress
        hex(c, 0, msb >>> 32, 8);
        c[8] = '-';
        hex(c, 9, msb >>> 16, 4);
        c[13] = '-';
        hex(c, 14, msb, 4);
        c[18] = '-';
        hex(c, 19, lsb >>> 48, 4);
        c[23] = '-';
        hex(c, 24, lsb, 12);
        return new String(c, StandardCharsets.ISO_8859_1);
    }

    private static void hex(byte[] c, int offset, long value, int digits) {
        for (int i = digits - 1; i >= 0; i--) {
            c[offset + i] = HEX[(int) (value & 0xF)];
            value >>>= 4;
        }
    }
}
