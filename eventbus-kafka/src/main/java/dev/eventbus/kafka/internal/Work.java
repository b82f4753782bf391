package dev.eventbus.kafka.internal;

import org.apache.kafka.clients.consumer.ConsumerRecord;

import java.util.Map;

/** One polled record on its way through the handler; a link in its {@link PartitionState}'s list. */
final class Work {
    final ConsumerRecord<byte[], byte[]> record;
    final PartitionState partition;
    int lane;
    int attempt = 1;
    /** Headers merged by in-memory redeliveries. */
    Map<String, String> extraHeaders;
    /** Its outcome is decided (ACK, parked for retry, dead-lettered, skipped): it no longer holds back a commit. */
    volatile boolean done;
    /** Next in the partition's list (poll thread only). */
    Work next;

    Work(ConsumerRecord<byte[], byte[]> record, PartitionState partition) {
        this.record = record;
        this.partition = partition;
    }
}
