package dev.eventbus.kafka.internal;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.TransportMessage;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.header.internals.RecordHeaders;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The CloudEvents Kafka protocol binding (v1.0), both content modes.
 *
 * <p>Binary mode: each CloudEvents attribute or extension (a header whose name is lower-case letters and digits,
 * such as {@code id}, {@code type}, {@code correlationid}) becomes a {@code ce_<name>} Kafka header,
 * {@code datacontenttype} becomes {@code content-type}, the body is the record value. Other headers (the
 * library's {@code eventbus-*} bookkeeping, user headers with other characters) travel under their own name.
 * Structured mode: the attributes and the data are one JSON object in the record value; the other headers stay
 * Kafka headers. Reading accepts both modes whatever the writer's setting, recognising structured records by
 * their {@code content-type}.
 *
 * <p>The transport's own headers ({@value #INTERNAL_PREFIX}*) are never shown to handlers.
 *
 * <p>Thread-safe.
 */
public final class CloudEventsBinding {

    public static final String CE_PREFIX = "ce_";
    public static final String CONTENT_TYPE = "content-type";
    public static final String STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8";
    /** Prefix of the headers the Kafka transport keeps for itself (retry due time, attempt, replay target). */
    public static final String INTERNAL_PREFIX = "eventbus-kafka-";

    public static final String CE_TYPE = CE_PREFIX + MessageHeaders.TYPE;
    /** The CloudEvents partitioning extension: written equal to the record key, read when the record has none. */
    public static final String CE_PARTITION_KEY = CE_PREFIX + MessageHeaders.PARTITION_KEY;

    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final JsonFactory JSON = MAPPER.getFactory();
    private static final byte[] EMPTY = new byte[0];
    /** Wire names of the header names seen so far; bounded so odd user headers cannot grow it forever. */
    private static final ConcurrentHashMap<String, String> WIRE_NAMES = new ConcurrentHashMap<>();
    private static final ConcurrentHashMap<String, String> MESSAGE_NAMES = new ConcurrentHashMap<>();
    private static final int NAME_CACHE_LIMIT = 1024;

    private final boolean structured;

    public CloudEventsBinding(boolean structured) {
        this.structured = structured;
    }

    /** True for a CloudEvents attribute name: lower-case ASCII letters and digits only. */
    public static boolean isAttributeName(String name) {
        int n = name.length();
        if (n == 0) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = name.charAt(i);
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
                return false;
            }
        }
        return true;
    }

    /** The Kafka header key of a message header name in binary mode. */
    public static String wireName(String name) {
        switch (name) { // the attributes every message carries, without a map look-up
            case "id": return "ce_id";
            case "specversion": return "ce_specversion";
            case "source": return "ce_source";
            case "type": return "ce_type";
            case "time": return "ce_time";
            case "subject": return "ce_subject";
            case "datacontenttype": return CONTENT_TYPE;
            case "dataschema": return "ce_dataschema";
            case "correlationid": return "ce_correlationid";
            case "causationid": return "ce_causationid";
            case "traceparent": return "ce_traceparent";
            case "eventbusversion": return "ce_eventbusversion";
            case "partitionkey": return CE_PARTITION_KEY;
            default: break;
        }
        String w = WIRE_NAMES.get(name);
        if (w == null) {
            w = isAttributeName(name) ? CE_PREFIX + name : name;
            if (WIRE_NAMES.size() < NAME_CACHE_LIMIT) {
                WIRE_NAMES.put(name, w);
            }
        }
        return w;
    }

    /** The message header name of a Kafka header key. */
    public static String messageName(String wireKey) {
        String known = knownMessageName(wireKey);
        if (known != null) {
            return known;
        }
        String m = MESSAGE_NAMES.get(wireKey);
        if (m == null) {
            if (wireKey.length() > CE_PREFIX.length() && wireKey.startsWith(CE_PREFIX)
                    && isAttributeName(wireKey.substring(CE_PREFIX.length()))) {
                m = wireKey.substring(CE_PREFIX.length());
            } else if (wireKey.equalsIgnoreCase(CONTENT_TYPE)) {
                m = MessageHeaders.DATACONTENTTYPE;
            } else {
                m = wireKey;
            }
            if (MESSAGE_NAMES.size() < NAME_CACHE_LIMIT) {
                MESSAGE_NAMES.put(wireKey, m);
            }
        }
        return m;
    }

    /**
     * The attributes every record carries, matched by length and then {@code equals}: a consumed header key is a
     * fresh string, so a {@code switch} on it would hash every key of every record first.
     */
    private static String knownMessageName(String k) {
        switch (k.length()) {
            case 5:
                return k.equals("ce_id") ? "id" : null;
            case 7:
                return k.equals("ce_type") ? "type" : k.equals("ce_time") ? "time" : null;
            case 9:
                return k.equals("ce_source") ? "source" : null;
            case 10:
                return k.equals("ce_subject") ? "subject" : null;
            case 12:
                return k.equals(CONTENT_TYPE) ? MessageHeaders.DATACONTENTTYPE : null;
            case 13:
                return k.equals("ce_dataschema") ? "dataschema" : null;
            case 15:
                return k.equals(CE_PARTITION_KEY) ? MessageHeaders.PARTITION_KEY : null;
            case 14:
                return k.equals("ce_specversion") ? "specversion" : k.equals("ce_traceparent") ? "traceparent"
                        : k.equals("ce_causationid") ? "causationid" : null;
            case 16:
                return k.equals("ce_correlationid") ? "correlationid" : null;
            case 18:
                return k.equals("ce_eventbusversion") ? "eventbusversion" : null;
            default:
                return null;
        }
    }

    public static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    public static String string(byte[] b) {
        return b == null ? null : new String(b, StandardCharsets.UTF_8);
    }

    /** The value of the last header named {@code wireKey}, decoded, or null. */
    public static String header(Headers headers, String wireKey) {
        Header h = headers.lastHeader(wireKey);
        return h == null ? null : string(h.value());
    }

    /** Builds the record for {@code message} in this binding's content mode. */
    public ProducerRecord<byte[], byte[]> toRecord(String topic, byte[] key, TransportMessage message) {
        Map<String, String> h = message.headers();
        if (!structured) {
            BinaryHeaders headers = new BinaryHeaders(h.size() + (key == null ? 0 : 1));
            h.forEach(headers); // forEach: the bus's header map visits without an entry object per header
            if (key != null) {
                headers.add(new RecordHeader(CE_PARTITION_KEY, key)); // the record key's bytes: never written to
            }
            return new ProducerRecord<>(topic, null, key, message.body(), new RecordHeaders(headers.trimmed()));
        }
        RecordHeaders headers = new RecordHeaders();
        headers.add(CONTENT_TYPE, utf8(STRUCTURED_CONTENT_TYPE));
        for (Map.Entry<String, String> e : h.entrySet()) {
            if (!isAttributeName(e.getKey())) {
                headers.add(e.getKey(), utf8(e.getValue()));
            }
        }
        return new ProducerRecord<>(topic, null, key, structuredValue(message, key), headers);
    }

    /** Collects the binary-mode headers of one message. */
    private static final class BinaryHeaders implements java.util.function.BiConsumer<String, String> {
        final Header[] all;
        private int n;

        BinaryHeaders(int size) {
            all = new Header[size];
        }

        @Override
        public void accept(String name, String value) {
            if (name != MessageHeaders.PARTITION_KEY && !name.equals(MessageHeaders.PARTITION_KEY)) {
                all[n++] = binaryHeader(name, value); // the partition key is the record key's, added once
            }
        }

        void add(Header header) {
            all[n++] = header;
        }

        Header[] trimmed() {
            return n == all.length ? all : java.util.Arrays.copyOf(all, n);
        }
    }

    // Attributes whose value repeats from record to record: one immutable header per value, shared by all the
    // records that carry it, instead of a header and a byte[] per record (profiled on the publish path).
    private static final ConcurrentHashMap<String, Header> SPECVERSIONS = new ConcurrentHashMap<>();
    private static final ConcurrentHashMap<String, Header> SOURCES = new ConcurrentHashMap<>();
    private static final ConcurrentHashMap<String, Header> TYPES = new ConcurrentHashMap<>();
    private static final ConcurrentHashMap<String, Header> CONTENT_TYPES = new ConcurrentHashMap<>();
    private static final ConcurrentHashMap<String, Header> SCHEMA_VERSIONS = new ConcurrentHashMap<>();
    private static final int SHARED_HEADERS_LIMIT = 4096;

    /**
     * The binary-mode Kafka header of one message header. Sharing a header between records is safe: the producer
     * only reads a header's key and value, and nothing here hands the value array out for writing.
     */
    static Header binaryHeader(String name, String value) {
        ConcurrentHashMap<String, Header> shared;
        switch (name) {
            case "specversion" -> shared = SPECVERSIONS;
            case "source" -> shared = SOURCES;
            case "type" -> shared = TYPES;
            case "datacontenttype" -> shared = CONTENT_TYPES;
            case "eventbusversion" -> shared = SCHEMA_VERSIONS;
            default -> {
                return new RecordHeader(wireName(name), utf8(value));
            }
        }
        Header header = shared.get(value);
        if (header == null) {
            header = new RecordHeader(wireName(name), utf8(value));
            if (shared.size() < SHARED_HEADERS_LIMIT) {
                shared.putIfAbsent(value, header);
            }
        }
        return header;
    }

    /** Encodes extra message headers for adding to an existing record (the record's own mode is kept). */
    public static Header encodeHeader(String name, String value) {
        return new RecordHeader(wireName(name), utf8(value));
    }

    private static byte[] structuredValue(TransportMessage m, byte[] key) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(m.body().length + 512);
        try (JsonGenerator g = JSON.createGenerator(out)) {
            g.writeStartObject();
            for (Map.Entry<String, String> e : m.headers().entrySet()) {
                if (isAttributeName(e.getKey()) && !e.getKey().equals(MessageHeaders.PARTITION_KEY)) {
                    g.writeStringField(e.getKey(), e.getValue());
                }
            }
            if (key != null) {
                g.writeStringField(MessageHeaders.PARTITION_KEY, new String(key, StandardCharsets.UTF_8));
            }
            String ct = m.header(MessageHeaders.DATACONTENTTYPE);
            byte[] body = m.body();
            if (isJson(ct) && isOneJsonValue(body)) {
                g.writeFieldName("data");
                g.writeRawValue(new String(body, StandardCharsets.UTF_8));
            } else if (ct != null && ct.startsWith("text/")) {
                g.writeStringField("data", new String(body, StandardCharsets.UTF_8));
            } else {
                g.writeStringField("data_base64", Base64.getEncoder().encodeToString(body));
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw new IllegalStateException("could not write a structured CloudEvent", e);
        }
        return out.toByteArray();
    }

    private static boolean isJson(String contentType) {
        if (contentType == null) {
            return true; // the CloudEvents JSON format's default
        }
        String ct = contentType.trim().toLowerCase(java.util.Locale.ROOT);
        return ct.startsWith("application/json") || ct.startsWith("text/json") || ct.contains("+json");
    }

    private static boolean isOneJsonValue(byte[] body) {
        if (body.length == 0) {
            return false;
        }
        try (JsonParser p = JSON.createParser(body)) {
            if (p.nextToken() == null) {
                return false;
            }
            p.skipChildren();
            return p.nextToken() == null;
        } catch (IOException e) {
            return false;
        }
    }

    private static final byte[] STRUCTURED_PREFIX = utf8("application/cloudevents");

    /** True when the record is a structured-mode CloudEvent. Compares bytes: this runs for every record. */
    public static boolean isStructured(Headers headers) {
        Header h = headers.lastHeader(CONTENT_TYPE);
        return isStructuredContentType(h == null ? null : h.value());
    }

    private static boolean isStructuredContentType(byte[] v) {
        if (v == null) {
            return false;
        }
        int start = 0;
        while (start < v.length && v[start] == ' ') {
            start++;
        }
        if (v.length - start < STRUCTURED_PREFIX.length) {
            return false;
        }
        for (int i = 0; i < STRUCTURED_PREFIX.length; i++) {
            int c = v[start + i];
            if (c >= 'A' && c <= 'Z') {
                c += 'a' - 'A';
            }
            if (c != STRUCTURED_PREFIX[i]) {
                return false;
            }
        }
        return true;
    }

    /**
     * The message a record carries, as the bus sent it: headers under their message names (the transport's
     * internal ones left out), key and body.
     *
     * @throws MalformedRecordException when a structured-mode record's value is not a JSON CloudEvent
     */
    public static TransportMessage fromRecord(String stream, ConsumerRecord<byte[], byte[]> r) {
        String key = string(r.key());
        Headers kh = r.headers();
        if (isStructured(kh)) {
            return fromStructured(stream, key, r.value(), kh);
        }
        Header[] all = kh.toArray();
        String[] names = new String[all.length];
        byte[][] raw = new byte[all.length][];
        int n = 0;
        for (Header header : all) {
            String k = header.key();
            byte[] v = header.value();
            if (v == null || k.startsWith(INTERNAL_PREFIX)) {
                continue;
            }
            String name = messageName(k);
            if (name == MessageHeaders.PARTITION_KEY) {
                if (key == null) {
                    key = string(v);
                }
                continue;
            }
            n = HeaderMap.put(names, raw, n, name, v);
        }
        byte[] body = r.value() == null ? EMPTY : r.value();
        return TransportMessage.of(stream, key, new HeaderMap(names, raw, n), body);
    }

    /** What {@link #fromRecord(String, ConsumerRecord, Filter)} returns for a record its filter skips. */
    public static final TransportMessage SKIPPED = TransportMessage.of("", null, Map.of(), EMPTY);

    /**
     * Which records a consumer skips without decoding them: replays addressed to another group, and types nobody
     * in the group subscribes to.
     *
     * @param replayHeader the header naming the only group a replayed record is for, or null to believe no such
     *                     header (with retry topics, replays arrive through them, never on the main topic)
     * @param group        this consumer's group, UTF-8
     * @param types        the wanted types, UTF-8, or null for every type
     * @param typeNames    the same as strings (for structured records, whose type is inside the value)
     * @param known        whether the bus knows a type: only known types are skipped, an unknown one is decoded
     *                     and handed on so it follows the bus's unknown-type policy
     */
    public record Filter(String replayHeader, byte[] group, byte[][] types, java.util.Set<String> typeNames,
                         java.util.function.Predicate<String> known) {
        boolean wants(byte[] type) {
            for (byte[] t : types) {
                if (java.util.Arrays.equals(t, type)) {
                    return true;
                }
            }
            return false;
        }
    }

    /**
     * {@link #fromRecord(String, ConsumerRecord)} and the consumer's skip checks in one pass over the headers:
     * kafka-clients decodes each header key into a new {@code String} on first access, and key decoding plus
     * the separate {@code lastHeader} scans were the largest cost of a consumer's worker threads (JFR).
     *
     * @return the message, or {@link #SKIPPED} when {@code filter} skips the record
     * @throws MalformedRecordException when a structured-mode record's value is not a JSON CloudEvent
     */
    public static TransportMessage fromRecord(String stream, ConsumerRecord<byte[], byte[]> r, Filter filter) {
        Header[] all = r.headers().toArray();
        String[] names = new String[all.length];
        byte[][] raw = new byte[all.length][];
        int n = 0;
        boolean replayed = false;
        byte[] replay = null;
        byte[] type = null;
        byte[] contentType = null;
        byte[] partitionKey = null;
        // The last header of a name wins, as with lastHeader.
        for (Header header : all) {
            // The attributes every record carries are told from their key bytes (HeaderKeys): k stays null then.
            String name = HeaderKeys.knownName(header);
            String k = null;
            byte[] v = header.value();
            if (name == null) {
                k = header.key();
                if (k.startsWith(INTERNAL_PREFIX)) {
                    if (k.equals(filter.replayHeader)) {
                        replayed = true;
                        replay = v;
                    }
                    continue;
                }
                name = messageName(k);
            }
            // Identity first: messageName's and HeaderKeys' constants; a key read as a String is checked in full.
            if (name == MessageHeaders.TYPE && (k == null || k.equals(CE_TYPE))) {
                type = v;
            } else if (name == MessageHeaders.DATACONTENTTYPE && (k == null || k.equals(CONTENT_TYPE))) {
                contentType = v;
            } else if (name == MessageHeaders.PARTITION_KEY) {
                partitionKey = v; // the key, not a header: see below
                continue;
            }
            if (v != null) {
                n = HeaderMap.put(names, raw, n, name, v);
            }
        }
        if (replayed && !java.util.Arrays.equals(replay, filter.group)) {
            return SKIPPED; // a dead letter replayed for another group
        }
        boolean typeChecked = false;
        if (filter.types != null && type != null) {
            if (!filter.wants(type) && filter.known.test(string(type))) {
                return SKIPPED; // a known type nobody here subscribes to: decided without decoding
            }
            typeChecked = true;
        }
        String key = r.key() != null ? string(r.key()) : string(partitionKey);
        TransportMessage m;
        if (isStructuredContentType(contentType)) {
            m = fromStructured(stream, key, r.value(), r.headers());
        } else {
            byte[] body = r.value() == null ? EMPTY : r.value();
            m = TransportMessage.of(stream, key, new HeaderMap(names, raw, n), body);
        }
        java.util.Set<String> wanted = filter.typeNames;
        if (!typeChecked && wanted != null && m.type() != null && !wanted.contains(m.type())
                && filter.known.test(m.type())) {
            return SKIPPED; // a structured record of a type nobody here wants
        }
        return m;
    }

    private static TransportMessage fromStructured(String stream, String key, byte[] value, Headers kh) {
        JsonNode root;
        try {
            root = value == null ? null : MAPPER.readTree(value);
        } catch (IOException e) {
            throw new MalformedRecordException("the record says it is a structured CloudEvent ("
                    + STRUCTURED_CONTENT_TYPE + ") but its value is not JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new MalformedRecordException("the record says it is a structured CloudEvent but its value is not "
                    + "a JSON object", null);
        }
        Map<String, String> h = new LinkedHashMap<>(16);
        for (Header header : kh) {
            String k = header.key();
            if (k.startsWith(INTERNAL_PREFIX) || k.equalsIgnoreCase(CONTENT_TYPE) || header.value() == null) {
                continue;
            }
            String name = messageName(k);
            if (name == MessageHeaders.PARTITION_KEY) {
                key = key != null ? key : string(header.value());
            } else {
                h.put(name, string(header.value()));
            }
        }
        JsonNode data = null;
        JsonNode data64 = null;
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> f = it.next();
            switch (f.getKey()) {
                case "data" -> data = f.getValue();
                case "data_base64" -> data64 = f.getValue();
                case MessageHeaders.PARTITION_KEY -> {
                    if (key == null && f.getValue().isValueNode() && !f.getValue().isNull()) {
                        key = f.getValue().asText(); // the record key wins; this is the same value or a stand-in
                    }
                }
                default -> {
                    JsonNode v = f.getValue();
                    if (!v.isNull()) {
                        h.put(f.getKey(), v.isValueNode() ? v.asText() : v.toString());
                    }
                }
            }
        }
        byte[] body;
        try {
            if (data64 != null && !data64.isNull()) {
                body = Base64.getDecoder().decode(data64.asText());
            } else if (data == null || data.isNull()) {
                body = EMPTY;
            } else if (data.isTextual() && !isJson(h.get(MessageHeaders.DATACONTENTTYPE))) {
                body = utf8(data.asText());
            } else {
                body = MAPPER.writeValueAsBytes(data);
            }
        } catch (IllegalArgumentException | IOException e) {
            throw new MalformedRecordException("the structured CloudEvent's data cannot be read: " + e.getMessage(), e);
        }
        return TransportMessage.of(stream, key, h, body);
    }

    /** A record value or header set that cannot be turned into a message at all. */
    public static final class MalformedRecordException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        public MalformedRecordException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
