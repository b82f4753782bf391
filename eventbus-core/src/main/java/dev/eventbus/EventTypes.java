package dev.eventbus;

import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The bus's registry of event types: class to wire name, version and stream, and wire name back to class. Only
 * classes registered here are ever decoded: a wire name is looked up in this map, never passed to
 * {@code Class.forName}. Thread-safe.
 */
final class EventTypes {

    /** One event type. {@code serializer} is null for "the bus's default". */
    record Info(Class<?> type, String name, int version, String stream, Serializer serializer) {
        /** The version as header text, without formatting it on every publish. */
        String versionText() {
            return version < VERSION_TEXT.length ? VERSION_TEXT[version] : Integer.toString(version);
        }
    }

    private static final String[] VERSION_TEXT = new String[64];

    static {
        for (int i = 0; i < VERSION_TEXT.length; i++) {
            VERSION_TEXT[i] = Integer.toString(i).intern();
        }
    }

    private final String defaultStream;
    private final ConcurrentHashMap<Class<?>, Info> byClass = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Info> byName = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Class<?>, Serializer> serializers = new ConcurrentHashMap<>();

    EventTypes(String defaultStream) {
        this.defaultStream = defaultStream;
    }

    void serializer(Class<?> type, Serializer serializer) {
        serializers.put(type, serializer);
    }

    /** The info of a class, registering its name on first use. */
    Info of(Class<?> type) {
        Info info = byClass.get(type);
        return info != null ? info : register(type, null);
    }

    /** Registers {@code type} under {@code nameOverride} (or its {@link EventType} / default name). */
    synchronized Info register(Class<?> type, String nameOverride) {
        Info existing = byClass.get(type);
        if (existing != null && (nameOverride == null || nameOverride.equals(existing.name()))) {
            return existing;
        }
        EventType ann = type.getAnnotation(EventType.class);
        String name = nameOverride != null ? nameOverride
                : ann != null && !ann.name().isBlank() ? ann.name() : type.getName();
        int version = ann == null ? 1 : ann.version();
        if (version < 1) {
            throw new IllegalArgumentException("@EventType(version = " + version + ") on " + type.getName()
                    + ": versions start at 1");
        }
        String stream = ann != null && !ann.stream().isBlank() ? ann.stream() : defaultStream;
        Info info = new Info(type, name, version, stream, serializers.get(type));
        if (isConcrete(type)) {
            Info clash = byName.get(name);
            if (clash != null && clash.type() != type) {
                throw new IllegalStateException("Event type name '" + name + "' is claimed by both "
                        + clash.type().getName() + " and " + type.getName()
                        + ": give one of them another @EventType(name = ...)");
            }
            byName.put(name, info);
        }
        if (existing == null) {
            byClass.put(type, info);
        }
        return info;
    }

    /** Registers an additional wire name for a class (events that name themselves through {@link Event#eventType()}). */
    void alias(Class<?> type, String name) {
        Info info = of(type);
        if (!info.name().equals(name)) {
            Info clash = byName.putIfAbsent(name, new Info(type, name, info.version(), info.stream(), info.serializer()));
            if (clash != null && clash.type() != type) {
                throw new IllegalStateException("Event type name '" + name + "' is claimed by both "
                        + clash.type().getName() + " and " + type.getName());
            }
        }
    }

    /** The registered type for a wire name, or null. */
    Info byName(String name) {
        return byName.get(name);
    }

    /** Every registered concrete type assignable to {@code type}. */
    List<Info> concreteSubtypesOf(Class<?> type) {
        List<Info> out = new ArrayList<>();
        for (Info i : byName.values()) {
            if (type.isAssignableFrom(i.type())) {
                out.add(i);
            }
        }
        return out;
    }

    Collection<Info> all() {
        return byName.values();
    }

    static boolean isConcrete(Class<?> c) {
        return !c.isInterface() && !Modifier.isAbstract(c.getModifiers()) && !c.isPrimitive() && !c.isArray()
                && c != Object.class;
    }
}
