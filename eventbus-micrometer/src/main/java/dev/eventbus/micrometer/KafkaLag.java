package dev.eventbus.micrometer;

import io.micrometer.core.instrument.MultiGauge;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Kafka consumer lag through the Admin API; loaded only when {@link ConsumerLagMetrics#kafka} is used. */
final class KafkaLag {

    private KafkaLag() {
    }

    static List<MultiGauge.Row<?>> read(Admin admin, List<String> groups) throws Exception {
        List<MultiGauge.Row<?>> rows = new ArrayList<>();
        for (String group : groups) {
            Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(group)
                    .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
            Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
            committed.forEach((tp, om) -> {
                if (om != null) {
                    latest.put(tp, OffsetSpec.latest());
                }
            });
            if (latest.isEmpty()) {
                continue;
            }
            Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> ends = admin.listOffsets(latest).all()
                    .get(10, TimeUnit.SECONDS);
            for (Map.Entry<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> e : ends.entrySet()) {
                TopicPartition tp = e.getKey();
                long lag = Math.max(0, e.getValue().offset() - committed.get(tp).offset());
                rows.add(ConsumerLagMetrics.row("kafka", group, tp.topic(), Integer.toString(tp.partition()), lag));
            }
        }
        return rows;
    }
}
