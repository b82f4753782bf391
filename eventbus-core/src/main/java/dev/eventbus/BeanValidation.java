package dev.eventbus;

import jakarta.validation.ConstraintViolation;
import jakarta.validation.Validation;
import jakarta.validation.ValidationException;
import jakarta.validation.Validator;
import jakarta.validation.ValidatorFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The optional Jakarta Bean Validation hook ({@link EventBusConfig#VALIDATION} {@code = bean}): wraps each
 * serializer so that a decoded event with constraint violations fails like a body that does not parse, and is
 * dead-lettered at once with the violations as {@code field: message}. This is the only class of the bus that
 * touches {@code jakarta.validation}, an optional dependency: it is loaded only when validation is asked for, after
 * {@link #create()} has checked that the API is there. Thread-safe ({@link Validator} is).
 */
final class BeanValidation {

    private static final String API_CLASS = "jakarta.validation.Validation";

    private final Validator validator;

    private BeanValidation(Validator validator) {
        this.validator = validator;
    }

    /** @throws ConfigException when the API or a provider is missing from the classpath */
    static BeanValidation create() {
        try {
            Class.forName(API_CLASS, false, BusSetup.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            throw new ConfigException(EventBusConfig.VALIDATION, "bean", "none, or bean with jakarta.validation:"
                    + "jakarta.validation-api and a provider such as org.hibernate.validator:hibernate-validator (plus "
                    + "org.glassfish.expressly:expressly) on the classpath; the Bean Validation API is missing");
        }
        return Api.create();
    }

    /** The references to the API, in a class of their own so that {@link #create()} can look before they load. */
    private static final class Api {
        static BeanValidation create() {
            try {
                // The factory holds only caches, no threads or files: it lives as long as the class loader.
                ValidatorFactory factory = Validation.buildDefaultValidatorFactory();
                return new BeanValidation(factory.getValidator());
            } catch (ValidationException | LinkageError e) {
                throw new ConfigException(EventBusConfig.VALIDATION, "cannot start Jakarta Bean Validation for "
                        + EventBusConfig.VALIDATION + "=bean: " + e.getMessage() + " (add a provider such as "
                        + "org.hibernate.validator:hibernate-validator and an Expression Language implementation "
                        + "such as org.glassfish.expressly:expressly, or set " + EventBusConfig.VALIDATION
                        + "=none)", e);
            }
        }
    }

    /** The violations of {@code event} as {@code field: message; ...} sorted by field, or null when it is valid. */
    String violations(Object event) {
        Set<ConstraintViolation<Object>> found = validator.validate(event);
        if (found.isEmpty()) {
            return null;
        }
        List<String> lines = new ArrayList<>(found.size());
        for (ConstraintViolation<Object> v : found) {
            String path = v.getPropertyPath().toString();
            lines.add((path.isEmpty() ? "(event)" : path) + ": " + v.getMessage());
        }
        lines.sort(null);
        return String.join("; ", lines);
    }

    Serializer wrap(Serializer s) {
        return new Validating(s, this);
    }

    /** A decoded event breaks its constraints. Not retriable, like any body that cannot be read. */
    static final class InvalidEventException extends Serializer.SerializationException {
        private static final long serialVersionUID = 1L;

        InvalidEventException(String message) {
            super(message, null);
        }
    }

    /** A serializer whose reads are validated; writes are not (the publisher's own objects). */
    private record Validating(Serializer delegate, BeanValidation validation) implements Serializer {
        @Override
        public String contentType() {
            return delegate.contentType();
        }

        @Override
        public byte[] serialize(Object event) {
            return delegate.serialize(event);
        }

        @Override
        public <E> E deserialize(byte[] data, Class<E> type, String typeName, int version) {
            E event = delegate.deserialize(data, type, typeName, version);
            if (event != null) {
                String v = validation.violations(event);
                if (v != null) {
                    throw new InvalidEventException(v);
                }
            }
            return event;
        }
    }
}
