package dev.eventbus.kafka.internal;

import dev.eventbus.kafka.KafkaConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Pattern;

/**
 * Kafka {@code client.id}s that say whose a client is and never repeat: within a process a counter tells clients
 * apart, across processes the host name and process id do (an identity hash repeated across JVMs, so brokers'
 * quotas, logs and metrics mixed members up). Example: {@code orders-billing-consumer-host1-4711-3}. A
 * {@code client.id} the user set is kept as the prefix instead of service and group. Thread-safe.
 */
public final class ClientIds {

    private static final Pattern UNSAFE = Pattern.compile("[^a-zA-Z0-9._-]");
    private static final AtomicInteger COUNTER = new AtomicInteger();
    private static final String PROCESS = processTag();

    private ClientIds() {
    }

    /** A consumer of {@code group} (on the stream's topic, or on the group's retry topic). */
    static String consumer(KafkaConfig config, Object userClientId, String group, boolean retry) {
        String role = retry ? "retry-consumer" : "consumer";
        String base = userClientId == null ? config.serviceName() + "-" + group : String.valueOf(userClientId);
        return safe(base + "-" + role) + "-" + PROCESS + "-" + COUNTER.incrementAndGet();
    }

    /**
     * A producer, admin client or dead-letter reader of {@code service}; {@code role} says which. A client id
     * the user set is returned as it is (it may be what their quotas are keyed on).
     */
    public static String of(String service, Object userClientId, String role) {
        if (userClientId != null) {
            return String.valueOf(userClientId);
        }
        return safe(service + "-" + role) + "-" + PROCESS + "-" + COUNTER.incrementAndGet();
    }

    /** Host name and process id, e.g. {@code host1-4711}. */
    static String process() {
        return PROCESS;
    }

    private static String processTag() {
        String host = System.getenv("HOSTNAME");
        if (host == null || host.isBlank()) {
            try {
                // Not InetAddress.getLocalHost(): that may wait on DNS.
                host = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
            } catch (Exception | Error e) {
                host = System.getenv("COMPUTERNAME");
            }
        }
        String pid = Long.toString(ProcessHandle.current().pid());
        return host == null || host.isBlank() ? pid : safe(host) + "-" + pid;
    }

    private static String safe(String s) {
        return UNSAFE.matcher(s).replaceAll("_");
    }
}
