package dev.eventbus;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;

/**
 * The CloudEvents {@code source} a bus writes ({@link EventBusConfig#SOURCE}): a URI-reference, checked at build
 * time, or by default {@code urn:eventbus:} plus the service name percent-encoded, so any service name (with a
 * space, a slash, non-ASCII letters) gives a valid absolute URI that CloudEvents SDKs accept. Stateless.
 */
final class EventSource {

    static final String DEFAULT_PREFIX = "urn:eventbus:";

    private EventSource() {
    }

    /**
     * @param configured the value of {@link EventBusConfig#SOURCE}, or null
     * @param service    the bus's service name
     * @throws ConfigException when {@code configured} is not a URI-reference
     */
    static String resolve(String configured, String service) {
        if (configured == null) {
            return DEFAULT_PREFIX + encode(service);
        }
        String v = configured.trim();
        if (v.isEmpty() || !isUriReference(v)) {
            throw new ConfigException(EventBusConfig.SOURCE, configured, "a non-empty URI-reference (RFC 3986), an "
                    + "absolute one recommended, e.g. urn:example:orders or https://example.com/orders, with spaces "
                    + "and other characters outside URIs percent-encoded (%20)");
        }
        return v;
    }

    static boolean isUriReference(String v) {
        try {
            new URI(v);
            return true;
        } catch (URISyntaxException e) {
            return false;
        }
    }

    /** Percent-encodes every UTF-8 byte except the RFC 3986 unreserved characters. */
    static String encode(String s) {
        StringBuilder out = new StringBuilder(s.length() + 8);
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '.' || c == '_' || c == '~') {
                out.append((char) c);
            } else {
                out.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 0xf, 16)));
            }
        }
        return out.toString();
    }
}
