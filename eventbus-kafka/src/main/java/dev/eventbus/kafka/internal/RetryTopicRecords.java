package dev.eventbus.kafka.internal;

import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Outcome;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Headers;

import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Records of a group's retry topic: the original record (key, value, headers) plus the attempt, the due time and
 * where it came from. Written when a handler answers {@code RETRY}, read back by the subscription's retry loop,
 * which holds each one until it is due. Stateless.
 */
final class RetryTopicRecords {

    static final String H_ATTEMPT = CloudEventsBinding.INTERNAL_PREFIX + "attempt";
    static final String H_DUE = CloudEventsBinding.INTERNAL_PREFIX + "due";
    static final String H_ORIGINAL_TOPIC = CloudEventsBinding.INTERNAL_PREFIX + "original-topic";
    static final String H_ORIGINAL_PARTITION = CloudEventsBinding.INTERNAL_PREFIX + "original-partition";
    static final String H_ORIGINAL_OFFSET = CloudEventsBinding.INTERNAL_PREFIX + "original-offset";

    private RetryTopicRecords() {
    }

    /** The record that parks {@code w} in {@code retryTopic} until {@code outcome.delay()} has passed. */
    static ProducerRecord<byte[], byte[]> of(String retryTopic, Work w, Outcome outcome) {
        ConsumerRecord<byte[], byte[]> r = w.record;
        Map<String, String> set = new LinkedHashMap<>();
        if (w.extraHeaders != null) {
            set.putAll(w.extraHeaders);
        }
        set.putAll(outcome.headers());
        if (r.headers().lastHeader(MessageHeaders.FIRST_FAILURE) == null) {
            set.putIfAbsent(MessageHeaders.FIRST_FAILURE, Instant.now().toString());
        }
        Headers headers = DeadLetterRecords.copyExcept(r.headers(), set.keySet(), Set.of(H_ATTEMPT, H_DUE));
        for (Map.Entry<String, String> e : set.entrySet()) {
            headers.add(CloudEventsBinding.encodeHeader(e.getKey(), e.getValue()));
        }
        headers.add(H_ATTEMPT, CloudEventsBinding.utf8(Integer.toString(w.attempt + 1)));
        headers.add(H_DUE, CloudEventsBinding.utf8(Long.toString(System.currentTimeMillis() + outcome.delay().toMillis())));
        if (headers.lastHeader(H_ORIGINAL_TOPIC) == null) {
            headers.add(H_ORIGINAL_TOPIC, CloudEventsBinding.utf8(r.topic()));
            headers.add(H_ORIGINAL_PARTITION, CloudEventsBinding.utf8(Integer.toString(r.partition())));
            headers.add(H_ORIGINAL_OFFSET, CloudEventsBinding.utf8(Long.toString(r.offset())));
        }
        return new ProducerRecord<>(retryTopic, null, r.key(), r.value(), headers);
    }

    /** The attempt a retry record carries (2 when the header is missing). */
    static int attempt(Headers h) {
        String v = CloudEventsBinding.header(h, H_ATTEMPT);
        try {
            return v == null ? 2 : Math.max(1, Integer.parseInt(v.trim()));
        } catch (NumberFormatException e) {
            return 2;
        }
    }

    /** When a retry record is due, epoch millis (0 when the header is missing: now). */
    static long due(Headers h) {
        String v = CloudEventsBinding.header(h, H_DUE);
        try {
            return v == null ? 0 : Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }
}
