package dev.eventbus;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.datatype.jsr310.JavaTimeModule;

import java.io.IOException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The default {@link Serializer}: JSON through Jackson, with records, {@code java.time} (as ISO-8601 strings) and
 * {@link Upcaster} chains. Default typing is never enabled, so the bytes cannot choose a class to instantiate.
 * Unknown JSON properties are ignored, so adding a field is a compatible change.
 *
 * <p>Thread-safe; share one instance.
 */
public final class JsonSerializer implements Serializer {

    private final ObjectMapper mapper;
    private final Map<String, Map<Integer, Upcaster>> upcasters;
    // Readers and writers bound to a class once: readValue(bytes, Class) resolves the JavaType on every call,
    // which profiled as the largest single cost of consuming.
    private final ClassValue<ObjectReader> readers = new ClassValue<>() {
        @Override
        protected ObjectReader computeValue(Class<?> type) {
            return mapper.readerFor(type);
        }
    };
    private final ClassValue<ObjectWriter> writers = new ClassValue<>() {
        @Override
        protected ObjectWriter computeValue(Class<?> type) {
            return mapper.writerFor(type);
        }
    };

    /** A serializer with the default mapper and no upcasters. */
    public JsonSerializer() {
        this(defaultMapper(), List.of());
    }

    /**
     * @param mapper     a configured mapper; it must not have default typing enabled
     * @param upcasters  at most one per (type, fromVersion)
     */
    public JsonSerializer(ObjectMapper mapper, List<Upcaster> upcasters) {
        this.mapper = Objects.requireNonNull(mapper, "mapper");
        Map<String, Map<Integer, Upcaster>> byType = new HashMap<>();
        for (Upcaster u : upcasters) {
            Upcaster previous = byType.computeIfAbsent(u.type(), t -> new HashMap<>()).put(u.fromVersion(), u);
            if (previous != null) {
                throw new IllegalArgumentException("two upcasters for " + u.type() + " from version "
                        + u.fromVersion() + ": " + previous + " and " + u);
            }
        }
        this.upcasters = byType;
    }

    /** The mapper this library uses by default: java.time as ISO strings, unknown properties ignored. */
    public static ObjectMapper defaultMapper() {
        return JsonMapper.builder()
                .addModule(new JavaTimeModule())
                .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
                .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .disable(DeserializationFeature.ADJUST_DATES_TO_CONTEXT_TIME_ZONE)
                .build();
    }

    /** This serializer with more upcasters. */
    public JsonSerializer withUpcasters(List<Upcaster> more) {
        List<Upcaster> all = new java.util.ArrayList<>();
        upcasters.values().forEach(m -> all.addAll(m.values()));
        all.addAll(more);
        return new JsonSerializer(mapper, all);
    }

    @Override
    public String contentType() {
        return "application/json";
    }

    @Override
    public byte[] serialize(Object event) {
        try {
            return writers.get(event.getClass()).writeValueAsBytes(event);
        } catch (JsonProcessingException e) {
            throw new SerializationException("cannot write " + event.getClass().getName() + " as JSON: "
                    + e.getOriginalMessage(), e);
        }
    }

    @Override
    public <E> E deserialize(byte[] data, Class<E> type, String typeName, int version) {
        try {
            Map<Integer, Upcaster> chain = upcasters.get(typeName);
            if (chain == null || chain.get(version) == null) {
                return readers.get(type).readValue(data);
            }
            JsonNode tree = mapper.readTree(data);
            if (!(tree instanceof ObjectNode)) {
                throw new SerializationException("cannot upcast " + typeName + " v" + version
                        + ": the JSON is not an object", null);
            }
            ObjectNode node = (ObjectNode) tree;
            int v = version;
            Upcaster u;
            while ((u = chain.get(v)) != null) {
                node = u.upcast(node);
                v++;
            }
            return readers.get(type).readValue(node);
        } catch (IOException e) {
            throw new SerializationException("cannot read " + typeName + " v" + version + " as "
                    + type.getName() + ": " + firstLine(e.getMessage()), e);
        }
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }
}
