package dev.eventbus.kafka.internal;

import dev.eventbus.DeadLetter;
import dev.eventbus.EventBusException;
import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.spi.MessageHeaders;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;

import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Dead letters kept in dead-letter topics ({@code <topic>.DLT}): listing reads them from the beginning,
 * replay re-sends one to its group's retry topic (due at once; to the original topic, addressed to the group by a
 * header, when retry topics are off) and then appends a small marker record (empty value,
 * header {@value #H_REPLAYED} = the dead letter's id) to the same DLT partition, since a Kafka topic cannot
 * delete a single record. Listing hides marked dead letters and the markers.
 *
 * <p>A dead letter's id is {@code <dlt topic>/<partition>/<offset>}.
 *
 * <p>The reader keeps what it has read (the dead-letter records stay in memory) and later calls only fetch
 * what is new, so listing is cheap after the first time. Sized for the handfuls to thousands of dead letters an
 * operator looks at, not for millions.
 *
 * <p>Thread-safe (one reader, used under a lock). Blocks on the broker.
 */
public final class DeadLetterTopics implements Transport.DeadLetterStore, AutoCloseable {

    /** Header of a marker record: the id of the dead letter it retires. */
    public static final String H_REPLAYED = CloudEventsBinding.INTERNAL_PREFIX + "replayed";

    private final KafkaConfig config;
    private final Producer<byte[], byte[]> producer;
    private final Object lock = new Object();
    private KafkaConsumer<byte[], byte[]> reader;
    /** Every dead-letter partition read so far, with its records (markers included), in offset order. */
    private final Map<TopicPartition, List<ConsumerRecord<byte[], byte[]>>> seen = new java.util.HashMap<>();
    private boolean closed;

    public DeadLetterTopics(KafkaConfig config, Producer<byte[], byte[]> producer) {
        this.config = config;
        this.producer = producer;
    }

    @Override
    public List<DeadLetter> list(String group, int limit) {
        List<DeadLetter> out = new ArrayList<>();
        synchronized (lock) {
            refresh();
            for (List<ConsumerRecord<byte[], byte[]>> records : seen.values()) {
                for (ConsumerRecord<byte[], byte[]> r : live(records)) {
                    DeadLetter d = toDeadLetter(r);
                    if (group == null || group.equals(d.group())) {
                        out.add(d);
                    }
                }
            }
        }
        out.sort(Comparator.comparing(DeadLetter::deadAt).thenComparing(DeadLetter::id));
        return out.size() > limit ? new ArrayList<>(out.subList(0, Math.max(0, limit))) : out;
    }

    @Override
    public boolean replay(DeadLetter deadLetter) {
        String id = deadLetter.id();
        int b = id.lastIndexOf('/');
        int a = id.lastIndexOf('/', b - 1);
        if (a <= 0 || b <= a) {
            return false;
        }
        String dlt = id.substring(0, a);
        int partition;
        long offset;
        try {
            partition = Integer.parseInt(id.substring(a + 1, b));
            offset = Long.parseLong(id.substring(b + 1));
        } catch (NumberFormatException e) {
            return false;
        }
        synchronized (lock) {
            refresh();
            ConsumerRecord<byte[], byte[]> found = null;
            for (ConsumerRecord<byte[], byte[]> r : live(seen.getOrDefault(new TopicPartition(dlt, partition), List.of()))) {
                if (r.offset() == offset) {
                    found = r;
                    break;
                }
            }
            if (found == null) {
                return false;
            }
            String originalTopic = CloudEventsBinding.header(found.headers(), DeadLetterRecords.DLQ_ORIGINAL_TOPIC);
            if (originalTopic == null) {
                originalTopic = config.topic(deadLetter.originalStream());
            }
            RecordHeaders headers = new RecordHeaders();
            for (Header h : found.headers()) {
                if (!h.key().startsWith("eventbus-")) {
                    headers.add(h);
                }
            }
            String group = CloudEventsBinding.header(found.headers(), MessageHeaders.DLQ_GROUP);
            String target = originalTopic;
            if (group != null && config.retryTopics()) {
                // Through the group's retry topic, due now: only the bus writes there, so the main topic need not
                // believe a header naming the group a record is for (anyone may write one there).
                target = config.retryTopic(originalTopic, group);
                headers.add(RetryTopicRecords.H_ATTEMPT, CloudEventsBinding.utf8("1"));
                headers.add(RetryTopicRecords.H_DUE, CloudEventsBinding.utf8("0"));
                String[] origin = {CloudEventsBinding.header(found.headers(), DeadLetterRecords.DLQ_ORIGINAL_TOPIC),
                        CloudEventsBinding.header(found.headers(), DeadLetterRecords.DLQ_ORIGINAL_PARTITION),
                        CloudEventsBinding.header(found.headers(), DeadLetterRecords.DLQ_ORIGINAL_OFFSET)};
                if (origin[0] != null && origin[1] != null && origin[2] != null) {
                    headers.add(RetryTopicRecords.H_ORIGINAL_TOPIC, CloudEventsBinding.utf8(origin[0]));
                    headers.add(RetryTopicRecords.H_ORIGINAL_PARTITION, CloudEventsBinding.utf8(origin[1]));
                    headers.add(RetryTopicRecords.H_ORIGINAL_OFFSET, CloudEventsBinding.utf8(origin[2]));
                }
            }
            // Without retry topics the replay goes to the main topic, to every group of the stream: a header there
            // naming one group could be forged by any producer, so the main topic believes none (documented).
            await(producer.send(new ProducerRecord<>(target, null, found.key(), found.value(), headers)),
                    "replay dead letter " + id + " to '" + target + "'");
            RecordHeaders marker = new RecordHeaders();
            marker.add(H_REPLAYED, CloudEventsBinding.utf8(id));
            await(producer.send(new ProducerRecord<byte[], byte[]>(dlt, partition, (byte[]) null, new byte[0], (Iterable<Header>) marker)),
                    "mark dead letter " + id + " as replayed");
            return true;
        }
    }

    /** The records that no marker retired, markers left out. */
    private static List<ConsumerRecord<byte[], byte[]>> live(List<ConsumerRecord<byte[], byte[]>> records) {
        Set<String> retired = new HashSet<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            String m = CloudEventsBinding.header(r.headers(), H_REPLAYED);
            if (m != null) {
                retired.add(m);
            }
        }
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            if (r.headers().lastHeader(H_REPLAYED) == null
                    && !retired.contains(r.topic() + "/" + r.partition() + "/" + r.offset())) {
                out.add(r);
            }
        }
        return out;
    }

    /**
     * Catches up with every dead-letter topic: one metadata call finds them (new ones are read from their
     * beginning), one end-offsets call says how far to read, and only records not read before are fetched.
     * Caller holds the lock.
     */
    private void refresh() {
        KafkaConsumer<byte[], byte[]> c = reader();
        Map<String, List<PartitionInfo>> all = c.listTopics(config.topicTimeout());
        List<TopicPartition> fresh = new ArrayList<>();
        for (Map.Entry<String, List<PartitionInfo>> e : all.entrySet()) {
            if (!config.isDeadLetterTopic(e.getKey())) {
                continue;
            }
            for (PartitionInfo p : e.getValue()) {
                TopicPartition tp = new TopicPartition(e.getKey(), p.partition());
                if (!seen.containsKey(tp)) {
                    fresh.add(tp);
                }
            }
        }
        if (!fresh.isEmpty()) {
            List<TopicPartition> assigned = new ArrayList<>(seen.keySet());
            assigned.addAll(fresh);
            c.assign(assigned);
            c.seekToBeginning(fresh);
            for (TopicPartition tp : fresh) {
                seen.put(tp, new ArrayList<>());
            }
        }
        if (seen.isEmpty()) {
            return;
        }
        Map<TopicPartition, Long> end = c.endOffsets(seen.keySet(), config.topicTimeout());
        long deadline = System.nanoTime() + config.topicTimeout().toNanos();
        while (!caughtUp(c, end)) {
            if (System.nanoTime() - deadline > 0) {
                throw new EventBusException("Timed out reading the dead-letter topics", null, true);
            }
            for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
                List<ConsumerRecord<byte[], byte[]>> list = seen.get(new TopicPartition(r.topic(), r.partition()));
                if (list != null) {
                    list.add(r);
                }
            }
        }
    }

    private static boolean caughtUp(KafkaConsumer<byte[], byte[]> c, Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            if (c.position(e.getKey()) < e.getValue()) {
                return false;
            }
        }
        return true;
    }

    private DeadLetter toDeadLetter(ConsumerRecord<byte[], byte[]> r) {
        String stream = CloudEventsBinding.header(r.headers(), MessageHeaders.DLQ_ORIGINAL_STREAM);
        if (stream == null) {
            stream = config.stream(r.topic());
        }
        TransportMessage m;
        try {
            m = CloudEventsBinding.fromRecord(stream, r);
        } catch (CloudEventsBinding.MalformedRecordException e) {
            // Dead-lettered because it could not be read: show its headers and bytes as they are.
            Map<String, String> h = new LinkedHashMap<>();
            for (Header x : r.headers()) {
                if (!x.key().startsWith(CloudEventsBinding.INTERNAL_PREFIX) && x.value() != null) {
                    h.put(CloudEventsBinding.messageName(x.key()), CloudEventsBinding.string(x.value()));
                }
            }
            m = TransportMessage.of(stream, CloudEventsBinding.string(r.key()), h,
                    r.value() == null ? new byte[0] : r.value());
        }
        Instant deadAt = Instant.ofEpochMilli(r.timestamp());
        String t = m.header(MessageHeaders.DLQ_TIME);
        if (t != null) {
            try {
                deadAt = Instant.parse(t);
            } catch (DateTimeParseException ignored) {
                // keep the record timestamp
            }
        }
        String reason = m.header(MessageHeaders.DLQ_REASON);
        return new DeadLetter(r.topic() + "/" + r.partition() + "/" + r.offset(), m.header(MessageHeaders.DLQ_GROUP),
                m, reason == null ? "unknown (no " + MessageHeaders.DLQ_REASON + " header)" : reason, deadAt);
    }

    private KafkaConsumer<byte[], byte[]> reader() {
        if (closed) {
            throw new IllegalStateException("the Kafka transport is closed");
        }
        if (reader == null) {
            Map<String, Object> props = config.consumerProperties("unused");
            props.remove(ConsumerConfig.GROUP_ID_CONFIG);
            props.put(ConsumerConfig.CLIENT_ID_CONFIG, ClientIds.of(config.serviceName(), null, "dlt-reader"));
            props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "2000");
            reader = new KafkaConsumer<>(props);
        }
        return reader;
    }

    private void await(java.util.concurrent.Future<?> f, String what) {
        try {
            f.get(config.topicTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new EventBusException("Could not " + what + ": " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new EventBusException("Timed out trying to " + what, e, true);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new EventBusException("Interrupted while trying to " + what, e, true);
        }
    }

    @Override
    public void close() {
        synchronized (lock) {
            closed = true;
            if (reader != null) {
                reader.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(5)));
                reader = null;
            }
        }
    }
}
