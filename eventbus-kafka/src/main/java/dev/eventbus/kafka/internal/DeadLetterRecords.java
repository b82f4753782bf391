package dev.eventbus.kafka.internal;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Records of a dead-letter topic: the original key, value and headers plus headers that say what failed, where,
 * when and how often. Written by a subscription for {@code DEAD} outcomes and unreadable records; listed and
 * replayed by {@link DeadLetterTopics}. Stateless.
 */
public final class DeadLetterRecords {

    /** On a replayed dead letter: only this group handles it; the others skip it. */
    public static final String H_REPLAY_GROUP = CloudEventsBinding.INTERNAL_PREFIX + "replay-group";

    /** Visible dead-letter headers (besides {@link MessageHeaders}' {@code DLQ_*}). */
    public static final String DLQ_ORIGINAL_TOPIC = "eventbus-dlq-original-topic";
    public static final String DLQ_ORIGINAL_PARTITION = "eventbus-dlq-original-partition";
    public static final String DLQ_ORIGINAL_OFFSET = "eventbus-dlq-original-offset";

    private static final int STACK_LINES = 12;
    private static final int MAX_HEADER_TEXT = 1000;

    private DeadLetterRecords() {
    }

    /** The dead letter of {@code w}, which {@code group} gave up on, for {@code deadLetterTopic}. */
    static ProducerRecord<byte[], byte[]> of(String deadLetterTopic, String group, String stream, Work w,
                                             Outcome outcome) {
        ConsumerRecord<byte[], byte[]> r = w.record;
        Headers in = r.headers();
        Map<String, String> set = new LinkedHashMap<>(outcome.headers());
        set.putIfAbsent(MessageHeaders.DLQ_REASON, outcome.reason());
        Throwable cause = outcome.cause();
        if (cause != null) {
            set.putIfAbsent(MessageHeaders.DLQ_EXCEPTION, cause.getClass().getName());
            if (cause.getMessage() != null) {
                set.putIfAbsent(MessageHeaders.DLQ_MESSAGE, truncate(cause.getMessage()));
            }
            set.putIfAbsent(MessageHeaders.DLQ_STACK, stack(cause));
        }
        if (in.lastHeader(MessageHeaders.ATTEMPTS) == null) {
            set.putIfAbsent(MessageHeaders.ATTEMPTS, Integer.toString(w.attempt));
        }
        if (in.lastHeader(MessageHeaders.FIRST_FAILURE) == null) {
            set.putIfAbsent(MessageHeaders.FIRST_FAILURE, Instant.now().toString());
        }
        // A record from the retry topic names the record it stands for.
        String origTopic = CloudEventsBinding.header(in, RetryTopicRecords.H_ORIGINAL_TOPIC);
        String origPartition = CloudEventsBinding.header(in, RetryTopicRecords.H_ORIGINAL_PARTITION);
        String origOffset = CloudEventsBinding.header(in, RetryTopicRecords.H_ORIGINAL_OFFSET);
        if (origTopic == null || origPartition == null || origOffset == null) {
            origTopic = r.topic();
            origPartition = Integer.toString(r.partition());
            origOffset = Long.toString(r.offset());
        }
        set.put(MessageHeaders.DLQ_GROUP, group);
        set.put(MessageHeaders.DLQ_ORIGINAL_STREAM, stream);
        set.put(MessageHeaders.DLQ_ORIGIN, origTopic + "-" + origPartition + "@" + origOffset);
        set.put(MessageHeaders.DLQ_TIME, Instant.now().toString());
        set.put(DLQ_ORIGINAL_TOPIC, origTopic);
        set.put(DLQ_ORIGINAL_PARTITION, origPartition);
        set.put(DLQ_ORIGINAL_OFFSET, origOffset);
        Headers headers = copyExcept(in, set.keySet(), null);
        for (Map.Entry<String, String> e : set.entrySet()) {
            if (e.getValue() != null) {
                headers.add(CloudEventsBinding.encodeHeader(e.getKey(), e.getValue()));
            }
        }
        return new ProducerRecord<>(deadLetterTopic, null, r.key(), r.value(), headers);
    }

    /** Dead letter header: the size in bytes of a body that was left out because the whole record was too large. */
    public static final String DLQ_BODY_DROPPED = "eventbus-dlq-body-dropped";

    /**
     * {@code dead} without its value (an empty one) for a record too large to write whole: the headers, the reason
     * (saying the body was dropped and why), the original size in {@link #DLQ_BODY_DROPPED} and the origin stay.
     */
    static ProducerRecord<byte[], byte[]> withoutBody(ProducerRecord<byte[], byte[]> dead,
                                                       ConsumerRecord<byte[], byte[]> original, Exception why) {
        int size = original.value() == null ? 0 : original.value().length;
        String reason = CloudEventsBinding.header(dead.headers(), MessageHeaders.DLQ_REASON);
        RecordHeaders h = new RecordHeaders();
        for (Header x : dead.headers()) {
            if (!x.key().equals(MessageHeaders.DLQ_REASON)) {
                h.add(x);
            }
        }
        h.add(CloudEventsBinding.encodeHeader(MessageHeaders.DLQ_REASON, (reason == null ? "" : reason + "; ")
                + "the body (" + size + " bytes) was dropped: the record was too large for the dead-letter topic ("
                + truncate(String.valueOf(why.getMessage())) + ")"));
        h.add(CloudEventsBinding.encodeHeader(DLQ_BODY_DROPPED, Integer.toString(size)));
        return new ProducerRecord<>(dead.topic(), null, dead.key(), new byte[0], h);
    }

    /**
     * The record's headers without the transport's internal ones (except those in {@code keepInternal}, never the
     * replay target) and without those about to be set.
     */
    static Headers copyExcept(Headers in, Set<String> replacedNames, Set<String> dropInternal) {
        RecordHeaders out = new RecordHeaders();
        for (Header h : in) {
            String k = h.key();
            if (k.startsWith(CloudEventsBinding.INTERNAL_PREFIX)) {
                boolean keep = dropInternal != null && !dropInternal.contains(k) && !k.equals(H_REPLAY_GROUP);
                if (!keep) {
                    continue;
                }
            } else if (replacedNames.contains(CloudEventsBinding.messageName(k))) {
                continue;
            }
            out.add(h);
        }
        return out;
    }

    static String origin(ConsumerRecord<?, ?> r) {
        return r.topic() + "-" + r.partition() + "@" + r.offset();
    }

    private static String truncate(String s) {
        return s.length() <= MAX_HEADER_TEXT ? s : s.substring(0, MAX_HEADER_TEXT) + "...";
    }

    private static String stack(Throwable t) {
        StringWriter sw = new StringWriter();
        t.printStackTrace(new PrintWriter(sw));
        String[] lines = sw.toString().split("\\R");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(lines.length, STACK_LINES); i++) {
            sb.append(i == 0 ? "" : "\n").append(lines[i]);
        }
        if (lines.length > STACK_LINES) {
            sb.append("\n\t... ").append(lines.length - STACK_LINES).append(" more lines");
        }
        return truncate(sb.toString());
    }
}
