package dev.eventbus.benchmarks.observability;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * This JVM's CPU time split by kind of thread: the caller, the Kafka producer's I/O thread, the consumer's poll and
 * worker threads, the span exporter, and the JVM's own GC and JIT threads (which no thread sample shows). Java
 * threads are read from {@link ThreadMXBean} (nanoseconds, full names); the JVM's native threads from
 * {@code /proc/self/task} (clock ticks of 10 ms; absent off Linux). A thread that ended between two snapshots is
 * missing from the later one, so take the second before closing what owns it.
 *
 * <p>Not thread-safe; a benchmark helper.
 */
final class ThreadCpu {

    static final String[] GROUPS = {"caller", "producer-io", "consumer", "span-export", "gc", "jit", "other"};
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final long NANOS_PER_TICK = 10_000_000L; // USER_HZ 100 on Linux

    private ThreadCpu() {
    }

    /** CPU nanoseconds by thread key ("j" + Java id, or "n" + native tid), with the key's group. */
    static Map<String, long[]> snapshot() {
        Map<String, long[]> out = new LinkedHashMap<>();
        long[] ids = THREADS.getAllThreadIds();
        ThreadInfo[] infos = THREADS.getThreadInfo(ids);
        for (int i = 0; i < ids.length; i++) {
            if (infos[i] == null) {
                continue;
            }
            long cpu = THREADS.getThreadCpuTime(ids[i]);
            if (cpu >= 0) {
                out.put("j" + ids[i], new long[] {group(infos[i].getThreadName()), cpu});
            }
        }
        // The JVM's own threads are not Java threads: read them from the kernel.
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : tasks) {
                String stat;
                try {
                    stat = Files.readString(task.resolve("stat"));
                } catch (IOException gone) {
                    continue;
                }
                String comm = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
                int g = nativeGroup(comm);
                if (g < 0) {
                    continue;
                }
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime
                out.put("n" + task.getFileName(), new long[] {g, ticks * NANOS_PER_TICK});
            }
        } catch (IOException | RuntimeException notLinux) {
            // Java threads only.
        }
        return out;
    }

    /** CPU ns per event by group between two snapshots. */
    static double[] perEvent(Map<String, long[]> before, Map<String, long[]> after, long events) {
        double[] g = new double[GROUPS.length];
        for (Map.Entry<String, long[]> e : after.entrySet()) {
            long[] b = before.get(e.getKey());
            long d = e.getValue()[1] - (b == null ? 0 : b[1]);
            g[(int) e.getValue()[0]] += d / (double) events;
        }
        return g;
    }

    static String format(double[] g) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < GROUPS.length; i++) {
            if (g[i] >= 5) {
                s.append(s.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%s %,.0f", GROUPS[i], g[i]));
            }
        }
        return s.toString();
    }

    private static int group(String name) {
        if (name.equals("main")) {
            return 0;
        }
        if (name.startsWith("kafka-producer-network-thread")) {
            return 1;
        }
        if (name.startsWith("eventbus-kafka-") || name.startsWith("kafka-coordinator")) {
            return 2;
        }
        if (name.startsWith("BatchSpanProcessor")) {
            return 3;
        }
        return 6;
    }

    private static int nativeGroup(String comm) {
        if (comm.startsWith("GC Thread") || comm.startsWith("G1 ")) {
            return 4;
        }
        if (comm.contains("CompilerThre")) {
            return 5;
        }
        if (comm.startsWith("VM ")) {
            return 6;
        }
        return -1; // a Java thread (read above) or the launcher
    }
}
