package dev.eventbus.kafka.internal;

import dev.eventbus.spi.Delivery;
import org.apache.kafka.clients.consumer.ConsumerRecord;

import java.util.AbstractMap;
import java.util.Map;
import java.util.Set;

/**
 * A delivery's Kafka facts for observers ({@link Delivery#attributes()}): partition, offset and key. Built only when
 * someone reads them (a tracing interceptor), so a bus without one pays one small object per record, no formatting.
 * Immutable once built; a race between two readers builds two equal maps.
 */
final class RecordAttributes extends AbstractMap<String, String> {
    private final ConsumerRecord<byte[], byte[]> record;
    private final String key;
    private Map<String, String> built;

    RecordAttributes(ConsumerRecord<byte[], byte[]> record, String key) {
        this.record = record;
        this.key = key;
    }

    private Map<String, String> built() {
        Map<String, String> m = built;
        if (m == null) {
            String partition = Integer.toString(record.partition());
            String offset = Long.toString(record.offset());
            m = key == null ? Map.of(Delivery.PARTITION_ID, partition, Delivery.KAFKA_OFFSET, offset)
                    : Map.of(Delivery.PARTITION_ID, partition, Delivery.KAFKA_OFFSET, offset,
                            Delivery.KAFKA_MESSAGE_KEY, key);
            built = m;
        }
        return m;
    }

    /** A partition's number as text, made once for the usual partition counts. */
    private static final String[] PARTITIONS = java.util.stream.IntStream.range(0, 256).mapToObj(Integer::toString)
            .toArray(String[]::new);

    /**
     * One fact without building the map: a tracing interceptor asks for the known names one by one, so a record's
     * handling formats the offset once and makes no map, entries or iterator.
     */
    @Override
    public String get(Object name) {
        if (Delivery.PARTITION_ID.equals(name)) {
            int p = record.partition();
            return p >= 0 && p < PARTITIONS.length ? PARTITIONS[p] : Integer.toString(p);
        }
        if (Delivery.KAFKA_OFFSET.equals(name)) {
            return Long.toString(record.offset());
        }
        return Delivery.KAFKA_MESSAGE_KEY.equals(name) ? key : null;
    }

    @Override
    public boolean containsKey(Object name) {
        return get(name) != null;
    }

    @Override
    public int size() {
        return key == null ? 2 : 3;
    }

    @Override
    public boolean isEmpty() {
        return false;
    }

    @Override
    public Set<Entry<String, String>> entrySet() {
        return built().entrySet();
    }
}
