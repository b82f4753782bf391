package dev.eventbus.spi;

/**
 * Header names every transport understands. The CloudEvents attributes keep their spec names; each transport's
 * binding adds its own prefix on the wire: {@code ce_} on Kafka (binary mode), {@code cloudEvents_} on AMQP (the
 * current CloudEvents AMQP binding; the older {@code cloudEvents:} prefix is read too). Names starting with
 * {@code eventbus-} are this library's own bookkeeping, trusted only where the bus wrote them (its retry and
 * replay paths) and removed from messages arriving on a stream from outside.
 *
 * <p><b>Extensions.</b> A header whose name is lower-case ASCII letters and digits is a CloudEvents extension and
 * travels with the binding's prefix; any other name travels as a plain header of that name. CloudEvents asks
 * extension names to be at most 20 characters: a longer one still travels, and the publisher logs a WARN once per
 * name, since other CloudEvents consumers may refuse it.
 *
 * <p><b>Partition key.</b> One rule on every transport: a message's key ({@link TransportMessage#key()}, the
 * envelope's subject unless the publisher chose another) travels as the CloudEvents partitioning extension
 * {@value #PARTITION_KEY}; on Kafka the record key is the same value. On read, the key is the Kafka record key
 * (else {@code ce_partitionkey}) or the AMQP {@code cloudEvents_partitionkey}, and it never fills a missing
 * {@value #SUBJECT}.
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
    /**
     * CloudEvents {@code source}: a URI-reference naming the publisher, {@code eventbus.source} or by default
     * {@code urn:eventbus:<service name, percent-encoded>}.
     */
    public static final String SOURCE = "source";
    /** CloudEvents {@code type}: the event's wire name, e.g. {@code order.placed}. */
    public static final String TYPE = "type";
    /** CloudEvents {@code time}: RFC 3339 timestamp of publication. */
    public static final String TIME = "time";
    /** CloudEvents {@code subject}: what the event is about (the key it was published with, e.g. an order id). */
    public static final String SUBJECT = "subject";
    /** CloudEvents {@code datacontenttype}, e.g. {@code application/json}. */
    public static final String DATACONTENTTYPE = "datacontenttype";
    /**
     * CloudEvents {@code dataschema}, a URI. The bus never writes it (the schema version travels in
     * {@link #SCHEMA_VERSION}); a value sent by another producer is read and kept on the message, not interpreted.
     */
    public static final String DATASCHEMA = "dataschema";
    /** Extension: the id shared by every event of one business flow. */
    public static final String CORRELATION_ID = "correlationid";
    /** Extension: the id of the event whose handler published this one. */
    public static final String CAUSATION_ID = "causationid";
    /** Extension: W3C trace context. */
    public static final String TRACEPARENT = "traceparent";
    /** Extension: the event's schema version as an integer (from {@code @EventType(version)}). */
    public static final String SCHEMA_VERSION = "eventbusversion";
    /**
     * Extension (CloudEvents partitioning): the message's key, written by the transports from
     * {@link TransportMessage#key()} and read back into it, never shown as a header. See the class comment.
     */
    public static final String PARTITION_KEY = "partitionkey";
    /** The longest extension name CloudEvents allows. */
    public static final int MAX_EXTENSION_NAME_LENGTH = 20;

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

    /**
     * True when {@code name} can travel as a CloudEvents extension attribute: lower-case ASCII letters and digits,
     * at least one. Such headers get the binding's prefix ({@code ce_} on Kafka, {@code cloudEvents_} on AMQP).
     */
    public static boolean isExtensionName(String name) {
        if (name.isEmpty()) {
            return false;
        }
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
                return false;
            }
        }
        return true;
    }
}
