package dev.eventbus;

/**
 * Turns events into bytes and back. The default is {@link JsonSerializer}; set another per bus with
 * {@link EventBus.Builder#serializer(Serializer)} or per event type with
 * {@link EventBus.Builder#serializer(Class, Serializer)}.
 *
 * <p>Implementations must be thread-safe. They must never instantiate a class named by the bytes: the bus passes
 * the target class, looked up from its own registry of event types.
 */
public interface Serializer {

    /** The CloudEvents {@code datacontenttype} of the bytes, e.g. {@code application/json}. */
    String contentType();

    /**
     * @throws SerializationException when the event cannot be written
     */
    byte[] serialize(Object event);

    /**
     * Reads an event of {@code type} written at schema {@code version} (upcasting older versions where the
     * serializer knows how).
     *
     * @param typeName the wire type name, for upcasters and messages
     * @throws SerializationException when the bytes do not parse as {@code type}
     */
    <E> E deserialize(byte[] data, Class<E> type, String typeName, int version);

    /** An event could not be written or read. Not retriable: the same bytes will fail again. */
    class SerializationException extends EventBusException {
        private static final long serialVersionUID = 1L;

        public SerializationException(String message, Throwable cause) {
            super(message, cause, false);
        }
    }
}
