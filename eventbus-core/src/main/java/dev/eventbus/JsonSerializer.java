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
 * Unknown JSON properties are ignored by default, so adding a field is a compatible change; a number too large for
 * its {@code double}/{@code float} field (which would read as Infinity: JSON has none) is always rejected. Stricter
 * reading (null or missing record components, unknown properties) is opt-in: {@link #defaultMapper(boolean, boolean)}
 * or the keys {@link EventBusConfig#JSON_FAIL_ON_NULL_COMPONENTS} and {@link EventBusConfig#JSON_FAIL_ON_UNKNOWN_PROPERTIES}.
 * A message that fails them is dead-lettered with the reason.
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

    /**
     * The mapper this library uses by default: java.time as ISO strings, unknown properties ignored, null and
     * missing record components accepted, non-finite {@code double}/{@code float} values rejected.
     */
    public static ObjectMapper defaultMapper() {
        return defaultMapper(false, false);
    }

    /**
     * The default mapper, optionally stricter.
     *
     * @param failOnNullComponents    reject a JSON {@code null} or a missing property for a record component or
     *                                creator parameter (and {@code null} for a primitive)
     * @param failOnUnknownProperties reject properties the class does not have (another shape of object)
     */
    public static ObjectMapper defaultMapper(boolean failOnNullComponents, boolean failOnUnknownProperties) {
        return JsonMapper.builder()
                .addModule(new JavaTimeModule())
                .addModule(finiteNumbers())
                .disable(SerializationFeature.WRITE_DATES_AS_TIMESTAMPS)
                .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, failOnUnknownProperties)
                .configure(DeserializationFeature.FAIL_ON_NULL_CREATOR_PROPERTIES, failOnNullComponents)
                .configure(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES, failOnNullComponents)
                .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, failOnNullComponents)
                .disable(DeserializationFeature.ADJUST_DATES_TO_CONTEXT_TIME_ZONE)
                .build();
    }

    /**
     * Deserializers for {@code double}, {@code Double}, {@code float} and {@code Float} that reject what JSON
     * cannot say: Infinity (a number too large for the field, e.g. {@code 1e999999999}) and NaN (from a string).
     */
    private static com.fasterxml.jackson.databind.Module finiteNumbers() {
        com.fasterxml.jackson.databind.module.SimpleModule m =
                new com.fasterxml.jackson.databind.module.SimpleModule("eventbus-finite-numbers");
        m.addDeserializer(Double.class, new FiniteDouble(Double.class, null));
        m.addDeserializer(double.class, new FiniteDouble(Double.TYPE, 0.0d));
        m.addDeserializer(Float.class, new FiniteFloat(Float.class, null));
        m.addDeserializer(float.class, new FiniteFloat(Float.TYPE, 0.0f));
        return m;
    }

    private static final class FiniteDouble
            extends com.fasterxml.jackson.databind.deser.std.NumberDeserializers.DoubleDeserializer {
        FiniteDouble(Class<Double> cls, Double nullValue) {
            super(cls, nullValue);
        }

        @Override
        public Double deserialize(com.fasterxml.jackson.core.JsonParser p,
                                  com.fasterxml.jackson.databind.DeserializationContext ctxt) throws IOException {
            Double v = super.deserialize(p, ctxt);
            if (v != null && !Double.isFinite(v)) {
                throw com.fasterxml.jackson.databind.exc.InvalidFormatException.from(p,
                        "number out of range for a double (" + v + "): JSON has no Infinity or NaN",
                        p.getText(), Double.class);
            }
            return v;
        }
    }

    private static final class FiniteFloat
            extends com.fasterxml.jackson.databind.deser.std.NumberDeserializers.FloatDeserializer {
        FiniteFloat(Class<Float> cls, Float nullValue) {
            super(cls, nullValue);
        }

        @Override
        public Float deserialize(com.fasterxml.jackson.core.JsonParser p,
                                 com.fasterxml.jackson.databind.DeserializationContext ctxt) throws IOException {
            Float v = super.deserialize(p, ctxt);
            if (v != null && !Float.isFinite(v)) {
                throw com.fasterxml.jackson.databind.exc.InvalidFormatException.from(p,
                        "number out of range for a float (" + v + "): JSON has no Infinity or NaN",
                        p.getText(), Float.class);
            }
            return v;
        }
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
