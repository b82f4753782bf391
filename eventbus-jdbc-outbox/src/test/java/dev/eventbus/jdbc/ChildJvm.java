package dev.eventbus.jdbc;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A test program started in its own JVM on this JVM's classpath, to be killed with SIGKILL (no close, no shutdown
 * hook gets to run) as a crashed process would be. Its stdout and stderr are read by a thread of this JVM, so
 * {@link #awaitLine} can wait for what it prints (e.g. {@code READY}) and a failure can show everything it said.
 * Used by the crash tests here and, through this module's test-jar, by the fault suite.
 *
 * <p>Thread-safe. {@link #close()} kills the process if it still runs; always close it (try-with-resources).
 */
public final class ChildJvm implements AutoCloseable {

    private final Process process;
    private final List<String> lines = new ArrayList<>();

    private ChildJvm(Process process) {
        this.process = process;
        Thread reader = new Thread(this::read, "child-jvm-output-" + process.pid());
        reader.setDaemon(true);
        reader.start();
    }

    /** Starts {@code java -cp <this classpath> <jvmArgs> main args}. */
    public static ChildJvm start(Class<?> main, List<String> jvmArgs, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(main.getName());
        cmd.addAll(List.of(args));
        return new ChildJvm(new ProcessBuilder(cmd).redirectErrorStream(true).start());
    }

    public static ChildJvm start(Class<?> main, String... args) throws IOException {
        return start(main, List.of(), args);
    }

    private void read() {
        try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                synchronized (lines) {
                    lines.add(line);
                    lines.notifyAll();
                }
            }
        } catch (IOException e) {
            // the process was killed mid-line
        }
        synchronized (lines) {
            lines.add(null); // end of output
            lines.notifyAll();
        }
    }

    /**
     * Waits until the process printed exactly {@code line}. Fails with everything it printed if it exits or the
     * timeout passes first.
     */
    public void awaitLine(String line, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lines) {
            while (true) {
                if (lines.contains(line)) {
                    return;
                }
                long left = deadline - System.nanoTime();
                if (lines.contains(null) || left <= 0) {
                    throw new AssertionError("the child process " + (lines.contains(null) ? "exited" : "did not print '"
                            + line + "' within " + timeout) + " before printing '" + line + "'; it printed:\n"
                            + String.join("\n", output()));
                }
                TimeUnit.NANOSECONDS.timedWait(lines, left);
            }
        }
    }

    /** Everything printed so far. */
    public List<String> output() {
        synchronized (lines) {
            return lines.stream().filter(l -> l != null).toList();
        }
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    /** SIGKILL, and waits until the process is gone. */
    public void kill() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            throw new AssertionError("child process " + process.pid() + " still runs 30 s after SIGKILL");
        }
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            kill();
        }
    }
}
