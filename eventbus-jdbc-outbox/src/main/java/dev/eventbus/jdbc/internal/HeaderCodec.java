package dev.eventbus.jdbc.internal;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Headers as a flat JSON object of strings ({@code {"source":"/orders","correlationid":"..."}}): readable with
 * the database's own JSON functions, and written without a JSON library on the publish path.
 */
public final class HeaderCodec {

    private HeaderCodec() {
    }

    /** Encodes every header except those named in {@code skip} (kept in their own columns). */
    public static String encode(Map<String, String> headers, String skip1, String skip2) {
        StringBuilder sb = new StringBuilder(32 + headers.size() * 32);
        sb.append('{');
        boolean first = true;
        for (Map.Entry<String, String> e : headers.entrySet()) {
            String k = e.getKey();
            if (e.getValue() == null || k.equals(skip1) || k.equals(skip2)) {
                continue;
            }
            if (!first) {
                sb.append(',');
            }
            first = false;
            quote(sb, k);
            sb.append(':');
            quote(sb, e.getValue());
        }
        return sb.append('}').toString();
    }

    private static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"':
                    sb.append("\\\"");
                    break;
                case '\\':
                    sb.append("\\\\");
                    break;
                case '\n':
                    sb.append("\\n");
                    break;
                case '\r':
                    sb.append("\\r");
                    break;
                case '\t':
                    sb.append("\\t");
                    break;
                default:
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
            }
        }
        sb.append('"');
    }

    /**
     * Decodes what {@link #encode} wrote (any flat JSON object of strings).
     *
     * @throws IllegalArgumentException when the text is not such an object
     */
    public static Map<String, String> decode(String json) {
        Map<String, String> out = new LinkedHashMap<>();
        if (json == null) {
            throw new IllegalArgumentException("headers are missing");
        }
        int[] pos = {skipWs(json, 0)};
        expect(json, pos, '{');
        pos[0] = skipWs(json, pos[0]);
        if (peek(json, pos) == '}') {
            pos[0]++;
            return out;
        }
        while (true) {
            pos[0] = skipWs(json, pos[0]);
            String k = string(json, pos);
            pos[0] = skipWs(json, pos[0]);
            expect(json, pos, ':');
            pos[0] = skipWs(json, pos[0]);
            String v = string(json, pos);
            out.put(k, v);
            pos[0] = skipWs(json, pos[0]);
            char c = peek(json, pos);
            pos[0]++;
            if (c == '}') {
                break;
            }
            if (c != ',') {
                throw new IllegalArgumentException("malformed headers JSON at " + (pos[0] - 1) + ": " + clip(json));
            }
        }
        if (skipWs(json, pos[0]) != json.length()) {
            throw new IllegalArgumentException("trailing characters after headers JSON: " + clip(json));
        }
        return out;
    }

    private static String string(String s, int[] pos) {
        expect(s, pos, '"');
        // Fast path: most values have no escapes, so the value is a plain substring.
        int end = s.indexOf('"', pos[0]);
        if (end >= 0 && noBackslash(s, pos[0], end)) {
            String v = s.substring(pos[0], end);
            pos[0] = end + 1;
            return v;
        }
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (pos[0] >= s.length()) {
                throw new IllegalArgumentException("unterminated string in headers JSON: " + clip(s));
            }
            char c = s.charAt(pos[0]++);
            if (c == '"') {
                return sb.toString();
            }
            if (c != '\\') {
                sb.append(c);
                continue;
            }
            if (pos[0] >= s.length()) {
                throw new IllegalArgumentException("unterminated escape in headers JSON: " + clip(s));
            }
            char e = s.charAt(pos[0]++);
            switch (e) {
                case '"':
                case '\\':
                case '/':
                    sb.append(e);
                    break;
                case 'n':
                    sb.append('\n');
                    break;
                case 'r':
                    sb.append('\r');
                    break;
                case 't':
                    sb.append('\t');
                    break;
                case 'b':
                    sb.append('\b');
                    break;
                case 'f':
                    sb.append('\f');
                    break;
                case 'u':
                    if (pos[0] + 4 > s.length()) {
                        throw new IllegalArgumentException("bad \\u escape in headers JSON: " + clip(s));
                    }
                    try {
                        sb.append((char) Integer.parseInt(s.substring(pos[0], pos[0] + 4), 16));
                    } catch (NumberFormatException ex) {
                        throw new IllegalArgumentException("bad \\u escape in headers JSON: " + clip(s));
                    }
                    pos[0] += 4;
                    break;
                default:
                    throw new IllegalArgumentException("bad escape \\" + e + " in headers JSON: " + clip(s));
            }
        }
    }

    private static boolean noBackslash(String s, int from, int to) {
        for (int i = from; i < to; i++) {
            if (s.charAt(i) == '\\') {
                return false;
            }
        }
        return true;
    }

    private static char peek(String s, int[] pos) {
        if (pos[0] >= s.length()) {
            throw new IllegalArgumentException("headers JSON ends too early: " + clip(s));
        }
        return s.charAt(pos[0]);
    }

    private static void expect(String s, int[] pos, char c) {
        if (peek(s, pos) != c) {
            throw new IllegalArgumentException("expected '" + c + "' at " + pos[0] + " in headers JSON: " + clip(s));
        }
        pos[0]++;
    }

    private static int skipWs(String s, int i) {
        while (i < s.length() && Character.isWhitespace(s.charAt(i))) {
            i++;
        }
        return i;
    }

    private static String clip(String s) {
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }
}
