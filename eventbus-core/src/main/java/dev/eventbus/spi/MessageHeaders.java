package dev.eventbus.spi;

/**
 * Header names every transport understands. The CloudEvents attributes keep their spec names; each
 * transport's binding adds its own prefix on the wire ({@code ce_} on Kafka, {@code cloudEvents:} on AMQP).
 * Names starting with {@code eventbus-} are this library's own bookkeeping.
 *
 * <p>Constants only; thread-safe.
 */
public final class MessageHeaders {
    private MessageHeaders() {
    }

    /** CloudEvents {@code specversion}; always {@value #SPEC_VERSION_1_0} here. */
    public static final String SPECVERSION = "specversion";
    /** The CloudEvents spec version this library writes. */
    public static final String SPEC_VERSION_1_0 = "1.0";
    /** CloudEvents {@code id}: a UUIDv7, unique per event. */
    public static final String ID = "id";
    /** CloudEvents {@code source}: URI of the publishing service. */
    public static final String SOURCE = "source";
    /** CloudEvents {@code type}: the event's wire name, e.g. {@code order.placed}. */
    public static final String TYPE = "type";
    /** CloudEvents {@code time}: RFC 3339 timestamp of publication. */
    public static final String TIME = "time";
    /** CloudEvents {@code subject}: the event's key (order id, customer id, ...). */
    public static final String SUBJECT = "subject";
    /** CloudEvents {@code datacontenttype}, e.g. {@code application/json}. */
    public static final String DATACONTENTTYPE = "datacontenttype";
    /** CloudEvents {@code dataschema}; this library writes the schema version as {@code <type>/v<version>} here. */
    public static final String DATASCHEMA = "dataschema";
    /** Extension: the id shared by every event of one business flow. */
    public static final String CORRELATION_ID = "correlationid";
    /** Extension: the id of the event whose handler published this one. */
    public static final String CAUSATION_ID = "causationid";
    /** Extension: W3C trace context. */
    public static final String TRACEPARENT = "traceparent";
    /** Extension: the event's schema version as an integer (from {@code @EventType(version)}). */
    public static final String SCHEMA_VERSION = "eventbusversion";

    /** Bookkeeping: total handler invocations so far (written on redelivery). */
    public static final String ATTEMPTS = "eventbus-attempts";
    /** Bookkeeping: when the first attempt failed, ISO-8601. */
    public static final String FIRST_FAILURE = "eventbus-first-failure";
    /**
     * Bookkeeping: the subscribers of a group that still have to handle a redelivered message, separated by
     * {@link #PENDING_SEPARATOR}, so subscribers that already succeeded are not invoked twice.
     */
    public static final String PENDING_SUBSCRIBERS = "eventbus-pending";
    /** Separates subscriber ids in {@link #PENDING_SUBSCRIBERS}; ids never contain it (they may contain commas). */
    public static final String PENDING_SEPARATOR = ";";

    /** Dead letter: why the message was dead-lettered, in a sentence. */
    public static final String DLQ_REASON = "eventbus-dlq-reason";
    /** Dead letter: the exception class of the last failure. */
    public static final String DLQ_EXCEPTION = "eventbus-dlq-exception";
    /** Dead letter: the exception message of the last failure. */
    public static final String DLQ_MESSAGE = "eventbus-dlq-message";
    /** Dead letter: the first lines of the stack trace. */
    public static final String DLQ_STACK = "eventbus-dlq-stack";
    /** Dead letter: the consumer group that gave up. */
    public static final String DLQ_GROUP = "eventbus-dlq-group";
    /** Dead letter: the stream the message was read from. */
    public static final String DLQ_ORIGINAL_STREAM = "eventbus-dlq-original-stream";
    /** Dead letter: transport-specific origin, e.g. {@code orders-2@1734} (Kafka partition and offset). */
    public static final String DLQ_ORIGIN = "eventbus-dlq-origin";
    /** Dead letter: when it was dead-lettered, ISO-8601. */
    public static final String DLQ_TIME = "eventbus-dlq-time";
}
