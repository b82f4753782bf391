package dev.eventbus.internal;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;

/**
 * Reads CloudEvents {@code time} values. The form this library writes ({@code Instant.toString()}: UTC,
 * {@code 2026-11-25T16:49:05.123456Z}) is parsed by hand, because {@code Instant.parse} costs more per message
 * than decoding a small JSON body (profiled on the consume path); any other RFC 3339 form falls back to the JDK.
 * Thread-safe (stateless).
 */
public final class Timestamps {

    private Timestamps() {
    }

    /** The instant, or null when {@code s} is null or not an RFC 3339 timestamp. */
    public static Instant parseOrNull(String s) {
        if (s == null) {
            return null;
        }
        Instant fast = parseUtc(s);
        if (fast != null) {
            return fast;
        }
        try {
            return OffsetDateTime.parse(s).toInstant();
        } catch (DateTimeParseException e) {
            try {
                return Instant.parse(s);
            } catch (DateTimeParseException again) {
                return null;
            }
        }
    }

    /**
     * The same text as {@code Instant.toString()} for years 0 to 9999 (UTC, seconds always, the fraction in groups
     * of three digits as needed), without a {@code DateTimeFormatter}; other years go to the JDK. The
     * {@code yyyy-MM-ddTHH:mm:ss} part is kept for the last second formatted, since every event of that second
     * shares it (a publish stamps the current time).
     */
    public static String format(Instant t) {
        long seconds = t.getEpochSecond();
        Second cached = lastSecond;
        if (cached == null || cached.epochSecond != seconds) {
            cached = Second.of(seconds);
            if (cached == null) {
                return t.toString();
            }
            lastSecond = cached; // a racy publication is fine: Second is immutable (final fields)
        }
        int nanos = t.getNano();
        byte[] c = new byte[30];
        System.arraycopy(cached.text, 0, c, 0, 19);
        int n = 19;
        if (nanos != 0) {
            c[n++] = '.';
            if (nanos % 1_000_000 == 0) {
                put(c, n, nanos / 1_000_000, 3);
                n += 3;
            } else if (nanos % 1000 == 0) {
                put(c, n, nanos / 1000, 6);
                n += 6;
            } else {
                put(c, n, nanos, 9);
                n += 9;
            }
        }
        c[n++] = 'Z';
        return new String(c, 0, n, StandardCharsets.ISO_8859_1);
    }

    /** The last second formatted (shared by all threads; see {@link #format}). */
    private static Second lastSecond;

    /** {@code yyyy-MM-ddTHH:mm:ss} of one epoch second, ASCII. */
    private static final class Second {
        final long epochSecond;
        final byte[] text;

        private Second(long epochSecond, byte[] text) {
            this.epochSecond = epochSecond;
            this.text = text;
        }

        /** Null outside years 0 to 9999, which {@code Instant.toString()} writes differently. */
        static Second of(long seconds) {
            long day = Math.floorDiv(seconds, 86_400L);
            int secondOfDay = (int) Math.floorMod(seconds, 86_400L);
            java.time.LocalDate date = java.time.LocalDate.ofEpochDay(day);
            int year = date.getYear();
            if (year < 0 || year > 9999) {
                return null;
            }
            byte[] c = new byte[19];
            put(c, 0, year, 4);
            c[4] = '-';
            put(c, 5, date.getMonthValue(), 2);
            c[7] = '-';
            put(c, 8, date.getDayOfMonth(), 2);
            c[10] = 'T';
            put(c, 11, secondOfDay / 3600, 2);
            c[13] = ':';
            put(c, 14, (secondOfDay / 60) % 60, 2);
            c[16] = ':';
            put(c, 17, secondOfDay % 60, 2);
            return new Second(seconds, c);
        }
    }

    private static void put(byte[] c, int at, int value, int digits) {
        for (int i = at + digits - 1; i >= at; i--) {
            c[i] = (byte) ('0' + value % 10);
            value /= 10;
        }
    }

    /** {@code yyyy-MM-ddTHH:mm:ss[.f{1,9}]Z} by hand; null when {@code s} has any other shape. */
    static Instant parseUtc(String s) {
        int n = s.length();
        if (n < 20 || s.charAt(n - 1) != 'Z' || s.charAt(4) != '-' || s.charAt(7) != '-' || s.charAt(10) != 'T'
                || s.charAt(13) != ':' || s.charAt(16) != ':') {
            return null;
        }
        int year = digits(s, 0, 4);
        int month = digits(s, 5, 2);
        int day = digits(s, 8, 2);
        int hour = digits(s, 11, 2);
        int minute = digits(s, 14, 2);
        int second = digits(s, 17, 2);
        if ((year | month | day | hour | minute | second) < 0 || month < 1 || month > 12 || day < 1
                || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) {
            return null;
        }
        int nanos = 0;
        if (n > 20) {
            int fractionDigits = n - 21;
            if (s.charAt(19) != '.' || fractionDigits < 1 || fractionDigits > 9) {
                return null;
            }
            int f = digits(s, 20, fractionDigits);
            if (f < 0) {
                return null;
            }
            for (int i = fractionDigits; i < 9; i++) {
                f *= 10;
            }
            nanos = f;
        }
        long epochDay = epochDay(year, month, day);
        return Instant.ofEpochSecond(epochDay * 86_400L + hour * 3600L + minute * 60L + second, nanos);
    }

    private static int digits(String s, int from, int count) {
        int v = 0;
        for (int i = from; i < from + count; i++) {
            int d = s.charAt(i) - '0';
            if (d < 0 || d > 9) {
                return -1;
            }
            v = v * 10 + d;
        }
        return v;
    }

    private static int daysIn(int year, int month) {
        switch (month) {
            case 2:
                return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28;
            case 4:
            case 6:
            case 9:
            case 11:
                return 30;
            default:
                return 31;
        }
    }

    /** Days since 1970-01-01 (proleptic Gregorian), as in {@code LocalDate.toEpochDay}. */
    private static long epochDay(int year, int month, int day) {
        long y = year;
        long total = 365 * y;
        total += (y + 3) / 4 - (y + 99) / 100 + (y + 399) / 400;
        total += (367 * month - 362) / 12;
        total += day - 1;
        if (month > 2) {
            total--;
            boolean leap = (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0));
            if (!leap) {
                total--;
            }
        }
        return total - 719_528L; // days from 0000-01-01 to 1970-01-01
    }
}
