package dev.eventbus.fault;

import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A RabbitMQ node of the test's own, on free ports, with its data, logs, cookie and (empty) plugin list in a temp
 * directory: the shared server on 5672 is never touched. {@link #stop()} is what an operator's
 * {@code rabbitmqctl stop} does; {@link #start()} starts the same node again on the same data, so durable queues
 * and persistent messages come back. {@link #close()} stops it (killing it if it will not stop) and deletes the
 * directory; a JVM shutdown hook does the same if the test JVM exits first.
 *
 * <p>Needs the {@code rabbitmq-server} package installed (its scripts in {@code /usr/lib/rabbitmq/bin} or on the
 * PATH); nothing has to run. Not thread-safe: one test drives it.
 */
final class RabbitNode implements AutoCloseable {

    private final Path dir;
    private final String node;
    private final int amqpPort;
    private final int distPort;
    private final Thread hook = new Thread(this::destroy, "rabbit-node-stop");
    private Process process;

    RabbitNode() throws IOException {
        dir = Files.createTempDirectory("eventbus-fault-rabbit-");
        Files.writeString(dir.resolve("enabled_plugins"), "[].\n");
        node = Figures.unique("eventbusfault").replace("-", "") + "@localhost";
        amqpPort = freePort();
        distPort = freePort();
        Runtime.getRuntime().addShutdownHook(hook);
    }

    String uri() {
        return "amqp://guest:guest@127.0.0.1:" + amqpPort + "/";
    }

    int port() {
        return amqpPort;
    }

    /** Starts the node and waits (up to 3 min) until it accepts an AMQP connection. */
    void start() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(script("rabbitmq-server")).directory(dir.toFile())
                .redirectErrorStream(true).redirectOutput(dir.resolve("server.out").toFile());
        environment(pb.environment());
        try {
            process = pb.start();
        } catch (IOException e) {
            throw new AssertionError("Could not start a RabbitMQ node of the test's own (" + e + "). Install the "
                    + "rabbitmq-server package (Debian: apt-get install rabbitmq-server); the test starts its own "
                    + "node from its scripts, on free ports, and never uses or stops the shared server.", e);
        }
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (!accepts()) {
            if (!process.isAlive() || System.nanoTime() - deadline > 0) {
                String out = Files.exists(dir.resolve("server.out")) ? Files.readString(dir.resolve("server.out"))
                        : "";
                destroy();
                throw new AssertionError("The test's own RabbitMQ node " + node + " did not accept AMQP on port "
                        + amqpPort + (process.isAlive() ? " within 3 min" : " (it exited)") + ". It needs the "
                        + "rabbitmq-server package, a free port and a writable temp dir; its output:\n" + out);
            }
            Thread.sleep(200);
        }
    }

    /** A clean node stop ({@code rabbitmqctl -n <node> stop}); waits until the node's processes are gone. */
    void stop() throws Exception {
        ProcessBuilder pb = new ProcessBuilder(script("rabbitmqctl"), "-n", node, "stop").directory(dir.toFile())
                .redirectErrorStream(true);
        environment(pb.environment());
        Process ctl = pb.start();
        String out = new String(ctl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!ctl.waitFor(60, TimeUnit.SECONDS) || ctl.exitValue() != 0) {
            System.err.println("[RabbitNode] rabbitmqctl stop failed (" + out.trim() + "); killing the node");
            destroy();
            return;
        }
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            destroy();
        }
        process.descendants().forEach(ProcessHandle::destroyForcibly); // erl_child_setup, inet_gethost
    }

    @Override
    public void close() {
        try {
            if (process != null && process.isAlive()) {
                stop();
            }
        } catch (Exception e) {
            System.err.println("[RabbitNode] stop failed: " + e);
        } finally {
            destroy();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook runs anyway
            }
            deleteRecursively(dir);
        }
    }

    /** Kills the node's processes (the script, beam and its helpers), forcibly. */
    private void destroy() {
        Process p = process;
        if (p == null) {
            return;
        }
        List<ProcessHandle> all = new java.util.ArrayList<>(p.descendants().toList());
        all.add(p.toHandle());
        all.forEach(ProcessHandle::destroyForcibly);
        for (ProcessHandle h : all) {
            try {
                h.onExit().get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                System.err.println("[RabbitNode] process " + h.pid() + " did not exit: " + e);
            }
        }
    }

    private boolean accepts() {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost("127.0.0.1");
        f.setPort(amqpPort);
        f.setConnectionTimeout(2000);
        f.setAutomaticRecoveryEnabled(false);
        try (Connection c = f.newConnection("eventbus-fault-probe")) {
            return c.isOpen();
        } catch (Exception e) {
            return false;
        }
    }

    private void environment(Map<String, String> env) {
        env.put("HOME", dir.toString()); // its own Erlang cookie, so rabbitmqctl talks to this node only
        env.put("RABBITMQ_NODENAME", node);
        env.put("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1");
        env.put("RABBITMQ_NODE_PORT", Integer.toString(amqpPort));
        env.put("RABBITMQ_DIST_PORT", Integer.toString(distPort));
        env.put("RABBITMQ_MNESIA_BASE", dir.resolve("mnesia").toString());
        env.put("RABBITMQ_LOG_BASE", dir.resolve("log").toString());
        env.put("RABBITMQ_PID_FILE", dir.resolve("node.pid").toString());
        env.put("RABBITMQ_ENABLED_PLUGINS_FILE", dir.resolve("enabled_plugins").toString());
        env.put("RABBITMQ_PLUGINS_EXPAND_DIR", dir.resolve("plugins-expand").toString());
        // No config files: the node's defaults. These paths do not exist on purpose.
        env.put("RABBITMQ_CONFIG_FILE", dir.resolve("rabbitmq").toString());
        env.put("RABBITMQ_ADVANCED_CONFIG_FILE", dir.resolve("advanced.config").toString());
        env.put("RABBITMQ_CONF_ENV_FILE", dir.resolve("rabbitmq-env.conf").toString());
    }

    /** The server's own script, not the Debian wrapper in /usr/sbin (which switches to the rabbitmq user). */
    private static String script(String name) {
        Path own = Path.of("/usr/lib/rabbitmq/bin", name);
        return Files.isExecutable(own) ? own.toString() : name;
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static void deleteRecursively(Path root) {
        try (var paths = Files.walk(root)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("[RabbitNode] could not delete " + root + ": " + e);
        }
    }
}
