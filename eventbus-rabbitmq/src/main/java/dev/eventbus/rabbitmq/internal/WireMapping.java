package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.LongString;
import dev.eventbus.internal.HeaderMap;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Our AMQP 0-9-1 binding of CloudEvents (CloudEvents defines none for 0-9-1; this follows its AMQP binding, binary
 * mode): every attribute and extension with a CloudEvents-shaped name ({@code [a-z0-9]+}) -> a header
 * {@code cloudEvents_<name>} (the binding's application properties), {@code id}, {@code type} and {@code time}
 * included; {@code datacontenttype} -> {@code content_type}; the key -> {@code cloudEvents_partitionkey} (the
 * CloudEvents partitioning extension). For AMQP tools, {@code id} is also the {@code message_id} property,
 * {@code type} the {@code type} property and {@code time} the {@code timestamp} property (seconds). Any other
 * header (e.g. {@code eventbus-dlq-reason}) -> a header of the same name.
 *
 * <p>Reading accepts the current {@code cloudEvents_} prefix and the older {@code cloudEvents:} one (written by
 * earlier versions of this bus and of the binding); a header wins over the AMQP property it mirrors. The module
 * README holds the table.
 */
public final class WireMapping {

    /** The CloudEvents AMQP binding's prefix of attribute and extension headers. */
    public static final String CE_PREFIX = "cloudEvents_";
    /** The prefix of earlier versions of the binding (and of this bus): read, never written. */
    public static final String OLD_CE_PREFIX = "cloudEvents:";
    /** The key's header (CloudEvents partitioning extension). */
    public static final String KEY_HEADER = CE_PREFIX + MessageHeaders.PARTITION_KEY;
    private static final String OLD_KEY_HEADER = OLD_CE_PREFIX + MessageHeaders.PARTITION_KEY;
    /** RabbitMQ's sender-selected routing keys, removed by the broker before delivery: carries the key's shard route. */
    public static final String BCC = "BCC";
    /** Like {@link #BCC} but kept on the message, so a delayed message still carries its shard route when it is
     *  dead-lettered from the delay queue into the stream exchange. Not shown to handlers. */
    public static final String CC = "CC";
    /** The transport's own attempt counter across republished retries. Not shown to handlers. */
    public static final String ATTEMPT_HEADER = "x-eventbus-attempt";
    /** Which delay queue a delayed publish goes to (headers-exchange match). Not shown to handlers. */
    public static final String DELAY_HEADER = "x-eventbus-delay";
    /** The routing key a message was first published with, kept across retries. Not shown to handlers. */
    public static final String ROUTING_KEY_HEADER = "x-eventbus-routing-key";
    /** Dead letter: the routing key the message had when it was consumed. */
    public static final String DLQ_ROUTING_KEY = "eventbus-dlq-original-routing-key";

    /** Header name -> wire name and back; a handful of names recur on every message, so translate each once. */
    private static final int NAME_CACHE_LIMIT = 4096;
    private static final java.util.concurrent.ConcurrentHashMap<String, String> TO_WIRE = new java.util.concurrent.ConcurrentHashMap<>();
    private static final java.util.concurrent.ConcurrentHashMap<String, String> FROM_WIRE = new java.util.concurrent.ConcurrentHashMap<>();

    private WireMapping() {
    }

    static String wireName(String name) {
        String w = TO_WIRE.get(name);
        if (w == null) {
            w = isCloudEventsName(name) ? CE_PREFIX + name : name;
            if (TO_WIRE.size() < NAME_CACHE_LIMIT) {
                TO_WIRE.put(name, w);
            }
        }
        return w;
    }

    private static String plainName(String wire) {
        String n = FROM_WIRE.get(wire);
        if (n == null) {
            // The prefixes are the same length; the rest must be a CloudEvents name for the header to be an attribute.
            n = (wire.startsWith(CE_PREFIX) || wire.startsWith(OLD_CE_PREFIX))
                    && isCloudEventsName(wire.substring(CE_PREFIX.length())) ? wire.substring(CE_PREFIX.length()) : wire;
            if (FROM_WIRE.size() < NAME_CACHE_LIMIT) {
                FROM_WIRE.put(wire, n);
            }
        }
        return n;
    }

    /**
     * The AMQP properties for {@code m}: persistent, with the CloudEvents attributes mapped as described above.
     * The headers are gathered in core's compact {@link HeaderMap}: amqp-client copies them into a map of its own
     * anyway, so a {@code HashMap} of ours (built, resized, then copied) was paid twice on every publish.
     */
    public static AMQP.BasicProperties properties(TransportMessage m, Map<String, Object> extraHeaders) {
        return properties(m, extraHeaders, null);
    }

    /**
     * As {@link #properties(TransportMessage, Map)}, plus the shard route of the message's key (of its id when it has
     * no key) under {@code routeHeader} ({@link #BCC} or {@link #CC}; null for none), so per-key ordered groups get it
     * on the right shard (see {@link KeyShards}).
     */
    @SuppressWarnings({"unchecked", "rawtypes"})
    public static AMQP.BasicProperties properties(TransportMessage m, Map<String, Object> extraHeaders,
                                                  String routeHeader) {
        Map<String, String> h = m.headers();
        HeaderMap.Builder headers = new HeaderMap.Builder(h.size() + 2);
        String contentType = null;
        String id = null;
        String type = null;
        Date timestamp = null;
        for (Map.Entry<String, String> e : h.entrySet()) {
            String name = e.getKey();
            String value = e.getValue();
            if (value == null) {
                continue;
            }
            switch (name) {
                case MessageHeaders.ID:
                    id = value;
                    headers.put(wireName(name), value);
                    break;
                case MessageHeaders.TYPE:
                    type = value;
                    headers.put(wireName(name), value);
                    break;
                case MessageHeaders.PARTITION_KEY:
                    break; // the key is the message's own (below), never a header that could contradict it
                case MessageHeaders.DATACONTENTTYPE:
                    contentType = value;
                    break;
                case MessageHeaders.TIME:
                    timestamp = parseTime(value);
                    headers.put(wireName(name), value);
                    break;
                default:
                    headers.put(wireName(name), value);
            }
        }
        if (m.key() != null) {
            headers.put(KEY_HEADER, m.key());
        }
        Map<String, Object> wire = (Map) headers.build();
        if (extraHeaders != null) {
            wire = new HashMap<>(wire);
            wire.putAll(extraHeaders);
        }
        if (routeHeader != null) {
            String k = m.key() != null ? m.key() : id;
            // amqp-client copies the headers into a HashMap of its own: a view adding one entry is enough.
            wire = new PlusOne(wire, routeHeader, KeyShards.route(k == null ? 0 : KeyShards.bucket(k)));
        }
        return new AMQP.BasicProperties.Builder()
                .deliveryMode(2)
                .contentType(contentType)
                .messageId(id)
                .type(type)
                .timestamp(timestamp)
                .priority(m.priority() > 0 ? m.priority() : null)
                .headers(wire)
                .build();
    }

    /**
     * The message as a handler sees it: the binding reversed, broker and transport bookkeeping left out. The
     * headers go into core's compact {@link HeaderMap}, which {@link TransportMessage} takes without wrapping it
     * (a {@code LinkedHashMap} plus the unmodifiable view over it profiled as a visible part of each delivery).
     */
    public static TransportMessage message(String stream, AMQP.BasicProperties props, byte[] body) {
        Map<String, Object> headers = props.getHeaders();
        HeaderMap.Builder h = new HeaderMap.Builder(headers == null ? 8 : headers.size() + 4);
        String key = null;
        boolean hasTime = false;
        boolean hasId = false;
        boolean hasType = false;
        if (headers != null) {
            for (Map.Entry<String, Object> e : headers.entrySet()) {
                String name = e.getKey();
                if (isBrokerHeader(name)) {
                    continue;
                }
                String value = text(e.getValue());
                if (value == null) {
                    continue;
                }
                if (name.equals(KEY_HEADER) || (key == null && name.equals(OLD_KEY_HEADER))) {
                    key = value;
                } else if (!name.equals(OLD_KEY_HEADER)) {
                    String plain = plainName(name);
                    hasTime |= plain.equals(MessageHeaders.TIME);
                    hasId |= plain.equals(MessageHeaders.ID);
                    hasType |= plain.equals(MessageHeaders.TYPE);
                    h.put(plain, value);
                }
            }
        }
        if (!hasId) {
            h.put(MessageHeaders.ID, props.getMessageId());
        }
        if (!hasType) {
            h.put(MessageHeaders.TYPE, props.getType());
        }
        h.put(MessageHeaders.DATACONTENTTYPE, props.getContentType());
        if (!hasTime && props.getTimestamp() != null) { // formatting the instant is not cheap: only when needed
            h.append(MessageHeaders.TIME, props.getTimestamp().toInstant().toString());
        }
        Integer p = props.getPriority();
        int priority = p == null ? 0 : Math.max(0, Math.min(255, p));
        return new TransportMessage(stream, key, h.build(), body, null, priority);
    }

    /** The key in AMQP headers (either prefix), or null. */
    public static String key(Map<String, Object> headers) {
        if (headers == null) {
            return null;
        }
        String k = text(headers.get(KEY_HEADER));
        return k != null ? k : text(headers.get(OLD_KEY_HEADER));
    }

    /**
     * Headers the broker or this transport adds for itself (and the {@code CC}/{@code BCC} routing annotations);
     * never shown to handlers, dropped when republishing.
     */
    public static boolean isBrokerHeader(String name) {
        if (name.isEmpty()) {
            return false;
        }
        char c = name.charAt(0);
        if (c == 'x') {
            return name.startsWith("x-") && isBrokerHeader0(name);
        }
        return (c == 'C' || c == 'B') && (name.equals(CC) || name.equals(BCC));
    }

    private static boolean isBrokerHeader0(String name) {
        return name.startsWith("x-death") || name.equals("x-delivery-count") || name.startsWith("x-first-death")
                || name.startsWith("x-last-death") || name.startsWith("x-eventbus-");
    }

    /** CloudEvents attribute names are lower-case letters and digits; those travel with the {@code cloudEvents_} prefix. */
    static boolean isCloudEventsName(String name) {
        return MessageHeaders.isExtensionName(name);
    }

    static Date parseTime(String value) {
        // Fast path for the UTC form the bus writes (2025-01-02T03:04:05[.fraction]Z); the property has seconds only.
        int n = value.length();
        if (n >= 20 && value.charAt(n - 1) == 'Z' && value.charAt(4) == '-' && value.charAt(7) == '-'
                && value.charAt(10) == 'T' && value.charAt(13) == ':' && value.charAt(16) == ':'
                && (n == 20 || value.charAt(19) == '.')) {
            try {
                long day = java.time.LocalDate.of(Integer.parseInt(value, 0, 4, 10), Integer.parseInt(value, 5, 7, 10),
                        Integer.parseInt(value, 8, 10, 10)).toEpochDay();
                long seconds = day * 86_400 + Integer.parseInt(value, 11, 13, 10) * 3600L
                        + Integer.parseInt(value, 14, 16, 10) * 60L + Integer.parseInt(value, 17, 19, 10);
                return new Date(seconds * 1000);
            } catch (RuntimeException e) {
                // not what it looked like: the general parser decides
            }
        }
        try {
            return Date.from(Instant.parse(value));
        } catch (DateTimeParseException | ArithmeticException e) {
            return null; // the exact value still travels in cloudEvents_time
        }
    }

    /** An AMQP header value as text. */
    public static String text(Object v) {
        if (v == null) {
            return null;
        }
        if (v instanceof LongString ls) {
            return new String(ls.getBytes(), StandardCharsets.UTF_8);
        }
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof byte[] b) {
            return new String(b, StandardCharsets.UTF_8);
        }
        if (v instanceof Date d) {
            return d.toInstant().toString();
        }
        if (v instanceof List<?> || v instanceof Map<?, ?>) {
            return null; // tables and arrays (x-death) are broker bookkeeping, not event attributes
        }
        return v.toString();
    }

    /** The delivery's attempt: our counter across republished retries plus the broker's redelivery count. */
    public static int attempt(AMQP.BasicProperties props, boolean redelivered) {
        Map<String, Object> headers = props.getHeaders();
        int base = 1;
        long redeliveries = redelivered ? 1 : 0;
        if (headers != null) {
            Object a = headers.get(ATTEMPT_HEADER);
            if (a != null) {
                try {
                    base = Math.max(1, Integer.parseInt(text(a)));
                } catch (NumberFormatException ignored) {
                    // a foreign value: count from 1
                }
            }
            Object dc = headers.get("x-delivery-count");
            if (dc instanceof Number n) {
                redeliveries = n.longValue(); // quorum queues count returns exactly
            }
        }
        return (int) Math.min(Integer.MAX_VALUE, base + redeliveries);
    }

    /**
     * Properties for republishing {@code props} (retry, dead letter, replay): broker bookkeeping removed,
     * {@code headers} merged in (a null value removes), the transport's attempt counter set when given.
     */
    public static AMQP.BasicProperties republish(AMQP.BasicProperties props, Map<String, String> merge,
                                                 Integer attempt, boolean stripEventbusHeaders,
                                                 String originalRoutingKey) {
        Map<String, Object> headers = new HashMap<>();
        if (props.getHeaders() != null) {
            props.getHeaders().forEach((k, v) -> {
                if (!isBrokerHeader(k) && !(stripEventbusHeaders && k.startsWith("eventbus-"))) {
                    headers.put(k, v);
                }
            });
        }
        if (merge != null) {
            merge.forEach((k, v) -> {
                String wire = wireName(k);
                if (v == null) {
                    headers.remove(wire);
                } else {
                    headers.put(wire, v);
                }
            });
        }
        if (attempt != null) {
            headers.put(ATTEMPT_HEADER, attempt.toString());
        }
        if (originalRoutingKey != null) {
            headers.put(ROUTING_KEY_HEADER, originalRoutingKey);
        }
        return props.builder().headers(headers).deliveryMode(2).build();
    }

    /** {@code props} with one header added (or replaced). */
    public static AMQP.BasicProperties withHeader(AMQP.BasicProperties props, String name, Object value) {
        Map<String, Object> headers = props.getHeaders() == null ? new HashMap<>() : new HashMap<>(props.getHeaders());
        headers.put(name, value);
        return props.builder().headers(headers).build();
    }

    /** A map plus one entry, read once by amqp-client's copy. */
    private static final class PlusOne extends java.util.AbstractMap<String, Object> {
        private final Map<String, Object> base;
        private final Map.Entry<String, Object> extra;

        PlusOne(Map<String, Object> base, String name, Object value) {
            this.base = base;
            this.extra = new java.util.AbstractMap.SimpleImmutableEntry<>(name, value);
        }

        @Override
        public int size() {
            return base.size() + 1;
        }

        @Override
        public java.util.Set<Map.Entry<String, Object>> entrySet() {
            return new java.util.AbstractSet<>() {
                @Override
                public java.util.Iterator<Map.Entry<String, Object>> iterator() {
                    java.util.Iterator<Map.Entry<String, Object>> it = base.entrySet().iterator();
                    return new java.util.Iterator<>() {
                        private boolean extraDone;

                        @Override
                        public boolean hasNext() {
                            return it.hasNext() || !extraDone;
                        }

                        @Override
                        public Map.Entry<String, Object> next() {
                            if (it.hasNext()) {
                                return it.next();
                            }
                            if (extraDone) {
                                throw new java.util.NoSuchElementException();
                            }
                            extraDone = true;
                            return extra;
                        }
                    };
                }

                @Override
                public int size() {
                    return PlusOne.this.size();
                }
            };
        }
    }
}
