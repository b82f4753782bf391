package dev.eventbus.kafka;

import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import org.apache.kafka.common.TopicPartition;

import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;

/**
 * One member of a consumer group in a JVM of its own, for {@link KafkaRebalanceTest}: subscribes with the
 * transport's defaults and reports on stdout, one flushed line each (so a kill -9 loses nothing already printed):
 * <ul>
 *   <li>{@code S <member> <body> <origin> <epoch micros>} when a handler starts, {@code D <member> <body>} when it
 *       returns ACK;</li>
 *   <li>{@code A <member> <epoch micros> <partitions>} when its partitions of the topic change.</li>
 * </ul>
 * Commands on stdin: {@code subscribe} joins the group (the JVM and the transport start before, so the test
 * controls when the member joins); {@code freeze} makes every handler that starts from then on block for good (the records
 * "running" when the test kills it), waits until the commits went out and answers {@code FROZEN}; {@code close}
 * closes the transport (graceful) and answers {@code CLOSED <ms>}.
 *
 * <p>Arguments: bootstrap servers, topic, group, member name, concurrency, handler millis.
 */
public final class GroupMemberApp {

    private static final PrintStream OUT = new PrintStream(
            new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16), true, StandardCharsets.UTF_8);
    private static volatile boolean frozen;

    private GroupMemberApp() {
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        String group = args[2];
        String member = args[3];
        int concurrency = Integer.parseInt(args[4]);
        long handlerMillis = Long.parseLong(args[5]);
        KafkaTransport transport = KafkaTransport.create(KafkaConfig.builder().serviceName("rebalance-test")
                .bootstrapServers(bootstrap).build());
        OUT.println("READY " + member);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.equals("subscribe")) {
                subscribe(transport, topic, group, member, concurrency, handlerMillis);
            } else if (line.equals("freeze")) {
                frozen = true;
                Thread.sleep(1500); // several commit intervals: everything finished is committed
                OUT.println("FROZEN " + member);
            } else if (line.equals("close")) {
                long t0 = System.nanoTime();
                transport.close(Duration.ofSeconds(10));
                OUT.println("CLOSED " + member + " " + Duration.ofNanos(System.nanoTime() - t0).toMillis());
                System.exit(0);
            }
        }
    }

    private static void subscribe(KafkaTransport transport, String topic, String group, String member,
                                  int concurrency, long handlerMillis) {
        CountDownLatch never = new CountDownLatch(1);
        KafkaSubscription sub = transport.subscribe(new SubscriptionRequest(group, topic, Set.of(), concurrency, true),
                d -> {
                    String body = new String(d.message().body(), StandardCharsets.UTF_8);
                    OUT.println("S " + member + " " + body + " " + d.origin() + " " + micros());
                    try {
                        if (frozen) {
                            never.await(); // "running" until the process is killed
                        }
                        Thread.sleep(handlerMillis);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        return Outcome.retry(Duration.ofMillis(10), e, java.util.Map.of());
                    }
                    OUT.println("D " + member + " " + body);
                    return Outcome.ack();
                });
        Thread watcher = new Thread(() -> {
            Set<Integer> last = Set.of();
            while (true) {
                Set<Integer> now = new TreeSet<>();
                for (TopicPartition tp : sub.assignment()) {
                    if (tp.topic().equals(topic)) {
                        now.add(tp.partition());
                    }
                }
                if (!now.equals(last)) {
                    OUT.println("A " + member + " " + micros() + " " + String.join(",",
                            now.stream().map(String::valueOf).toList()));
                    last = now;
                }
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "assignment-watcher");
        watcher.setDaemon(true);
        watcher.start();
    }

    private static long micros() {
        Instant now = Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1000;
    }
}
