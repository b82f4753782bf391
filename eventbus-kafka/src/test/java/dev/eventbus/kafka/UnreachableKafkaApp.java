package dev.eventbus.kafka;

import dev.eventbus.EventBus;

import java.util.Map;

/**
 * Builds a bus on Kafka at a closed port, in a JVM of its own so that {@link KafkaFailFastTest} can count every log
 * line the attempt prints (at INFO, as an application with a default logging setup would). Prints
 * {@code FAILED <ms> <message>} or {@code BUILT <ms>}, then returns from {@code main}: the JVM exits only if
 * nothing was left running.
 *
 * <p>Arguments: bootstrap servers, connect timeout.
 */
public final class UnreachableKafkaApp {

    private UnreachableKafkaApp() {
    }

    public static void main(String[] args) {
        long t0 = System.nanoTime();
        try {
            EventBus bus = EventBus.builder().service("unreachable").config(Map.of(
                    "eventbus.transport", "kafka",
                    KafkaConfig.BOOTSTRAP_SERVERS, args[0],
                    KafkaConfig.CONNECT_TIMEOUT, args[1])).build();
            System.out.println("BUILT " + (System.nanoTime() - t0) / 1_000_000);
            bus.close();
        } catch (RuntimeException e) {
            System.out.println("FAILED " + (System.nanoTime() - t0) / 1_000_000 + " " + e.getClass().getName() + ": "
                    + e.getMessage());
        }
        System.out.flush();
    }
}
