package dev.eventbus.micrometer;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import io.micrometer.core.instrument.MultiGauge;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** RabbitMQ queue depth through a passive declare; loaded only when {@link ConsumerLagMetrics#rabbitmq} is used. */
final class RabbitMqDepth {

    private RabbitMqDepth() {
    }

    static List<MultiGauge.Row<?>> read(ConnectionFactory factory, Map<String, String> queues) throws Exception {
        List<MultiGauge.Row<?>> rows = new ArrayList<>();
        try (Connection c = factory.newConnection("eventbus-metrics-queue-depth")) {
            for (Map.Entry<String, String> q : queues.entrySet()) {
                // A channel per queue: a passive declare of a missing queue closes its channel.
                Channel ch = c.createChannel();
                try {
                    long depth = ch.queueDeclarePassive(q.getKey()).getMessageCount();
                    rows.add(ConsumerLagMetrics.row("rabbitmq", q.getValue(), q.getKey(), "all", depth));
                    ch.close();
                } catch (java.io.IOException missing) {
                    // not declared (yet): no row
                }
            }
        }
        return rows;
    }
}
