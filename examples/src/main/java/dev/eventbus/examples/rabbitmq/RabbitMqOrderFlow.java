package dev.eventbus.examples.rabbitmq;

import dev.eventbus.examples.OrderFlow;

/**
 * The order flow over RabbitMQ, chosen by configuration alone: {@code eventbus.transport=rabbitmq} and the broker
 * URI ({@code EVENTBUS_RABBITMQ_URI} when set, else the local server at {@code amqp://guest:guest@localhost:5672/}).
 * Start a local server with {@code rabbitmq-server -detached}.
 *
 * <p>Run it with:
 * <pre>
 * mvn -q -ntp -pl examples -am -DskipTests -Dmaven.javadoc.skip -Dmaven.source.skip package exec:java \
 *     -Dexec.mainClass=dev.eventbus.examples.rabbitmq.RabbitMqOrderFlow
 * </pre>
 */
public final class RabbitMqOrderFlow {

    private RabbitMqOrderFlow() {
    }

    public static void main(String[] args) throws Exception {
        String uri = System.getenv("EVENTBUS_RABBITMQ_URI");
        System.setProperty("eventbus.transport", "rabbitmq");
        System.setProperty("eventbus.rabbitmq.uri",
                uri == null || uri.isBlank() ? "amqp://guest:guest@localhost:5672/" : uri);
        OrderFlow.main(args);
    }
}
