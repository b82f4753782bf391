package dev.eventbus.benchmarks.rabbitmq;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.ConfirmListener;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Envelope;
import dev.eventbus.EventBus;
import dev.eventbus.PublishOptions;
import dev.eventbus.Registration;
import dev.eventbus.rabbitmq.RabbitMqConfig;
import dev.eventbus.rabbitmq.RabbitMqTransport;
import dev.eventbus.rabbitmq.internal.WireMapping;
import dev.eventbus.spi.TransportMessage;

import java.io.IOException;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Publish and consume throughput of the RabbitMQ transport through the bus, against raw amqp-client in the same
 * run, same server, same confirm window, same queue type and prefetch, alternated A B A B after a warm-up of
 * both (see {@code shared/BENCHMARKS.md}).
 *
 * <ul>
 *   <li>Publish: raw = a confirm-mode channel with a {@link ConfirmListener} over a sorted map of outstanding
 *       sequence numbers, publishing messages byte-identical to ours (built with {@link EventBus#messageFor} and
 *       the transport's wire mapping before the clock starts); ours = {@code bus.publish(event)} from event
 *       objects. Both until every confirm arrived.</li>
 *   <li>Consume: the group queue is filled with the same messages; raw = a consumer with the same prefetch that
 *       acknowledges with multiple=true every 100 (half the prefetch when that is smaller); ours = a no-op subscriber on the bus. From first delivery
 *       to last.</li>
 * </ul>
 *
 * <p>System properties: {@code messages} (30000), {@code pairs} (3), {@code window} (256), {@code prefetch}
 * (200), {@code queueType} (quorum|classic), {@code keyOrder} (false: one group queue, like the raw side; true:
 * the bus's per-key order through key shards: the publisher's shard route, plain topic bindings), {@code concurrency} (1), {@code threadCpu} (false:
 * true prints each consume run's CPU per message by thread group). Broker: env {@code EVENTBUS_RABBITMQ_URI}, default
 * the local server. Run: {@code java -cp eventbus-benchmarks/target/benchmarks.jar
 * dev.eventbus.benchmarks.rabbitmq.RabbitMqThroughput}.
 */
public final class RabbitMqThroughput {

    private final int n;
    private final int window;
    private final int prefetch;
    private final RabbitMqConfig config;
    private final EventBus bus;
    private final Connection raw;
    private final List<BenchOrder> events = new ArrayList<>();
    private final List<PublishOptions> options = new ArrayList<>();
    private final List<AMQP.BasicProperties> rawProps = new ArrayList<>();
    private final List<byte[]> rawBodies = new ArrayList<>();
    private final String exchange;
    private final String routingKey;
    private final List<String> queues = new ArrayList<>();

    private RabbitMqThroughput(String uri, int n, int window, int prefetch, RabbitMqConfig.QueueType type,
                               boolean keyOrder) throws Exception {
        this.n = n;
        this.window = window;
        this.prefetch = prefetch;
        String prefix = "bench-" + UUID.randomUUID().toString().substring(0, 8) + ".";
        this.config = RabbitMqConfig.builder().uri(uri).serviceName("bench").prefix(prefix).queueType(type)
                .confirmWindow(window).prefetch(prefetch).keyOrder(keyOrder).build();
        this.bus = EventBus.builder().service("bench").transport(RabbitMqTransport.create(config))
                .concurrency(Integer.getInteger("concurrency", 1)).build();
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(config.host());
        f.setPort(config.port());
        f.setUsername(config.username());
        f.setPassword(config.password());
        f.setVirtualHost(config.virtualHost());
        this.raw = f.newConnection("bench-raw");
        // Declare and bind the group's queue(s), then leave them without a consumer.
        bus.subscribe(BenchOrder.class, "sink", e -> { }).unregister();
        if (keyOrder) {
            for (int i = 0; i < config.shards(); i++) {
                queues.add(prefix + "bench.sink.shard-" + i);
            }
        } else {
            queues.add(prefix + "bench.sink");
        }
        for (int i = 0; i < n; i++) {
            BenchOrder e = new BenchOrder(String.format("order-%08d", i), "customer-" + (i % 977) + "@example.com",
                    "sku-" + (i % 101), 1 + i % 5, 1999L + i);
            events.add(e);
            PublishOptions o = PublishOptions.builder().key(e.orderId()).build();
            options.add(o);
            TransportMessage m = bus.messageFor(e, o);
            // Byte-identical to what the transport sends: with the key's shard route in BCC, so the raw fill reaches
            // the shard queues too.
            rawProps.add(WireMapping.properties(m, null, WireMapping.BCC));
            rawBodies.add(m.body());
        }
        TransportMessage sample = bus.messageFor(events.get(0), options.get(0));
        this.exchange = prefix + sample.stream();
        this.routingKey = sample.type();
        System.out.printf("message: %d bytes body, %d headers; exchange %s, routing key %s%n",
                sample.body().length, rawProps.get(0).getHeaders().size(), exchange, routingKey);
    }

    public static void main(String[] args) throws Exception {
        String uri = System.getenv().getOrDefault("EVENTBUS_RABBITMQ_URI", "amqp://guest:guest@localhost:5672/");
        int n = Integer.getInteger("messages", 30_000);
        int pairs = Integer.getInteger("pairs", 3);
        int window = Integer.getInteger("window", 256);
        int prefetch = Integer.getInteger("prefetch", 200);
        RabbitMqConfig.QueueType type = RabbitMqConfig.QueueType.valueOf(
                System.getProperty("queueType", "quorum").toUpperCase(Locale.ROOT));
        boolean keyOrder = Boolean.getBoolean("keyOrder");
        RabbitMqThroughput b;
        try {
            b = new RabbitMqThroughput(uri, n, window, prefetch, type, keyOrder);
        } catch (Exception | Error e) {
            // The connections opened so far have non-daemon threads: without exit the JVM would hang here.
            e.printStackTrace();
            System.exit(1);
            return;
        }
        System.out.printf("RabbitMQ throughput, %s, %d cores, %d messages, confirm window %d, prefetch %d, %s queues, keyOrder=%s%n",
                LocalDate.now(), Runtime.getRuntime().availableProcessors(), n, window, prefetch,
                type.name().toLowerCase(Locale.ROOT), keyOrder);
        try {
            b.run(pairs);
        } finally {
            b.close();
        }
    }

    private void run(int pairs) throws Exception {
        // Warm-up of both sides.
        purge();
        rawPublish();
        purge();
        oursPublish();
        purge();
        double[] rawP = new double[pairs];
        double[] ourP = new double[pairs];
        for (int i = 0; i < pairs; i++) {
            long c0 = cpuNanos();
            rawP[i] = rawPublish();
            long c1 = cpuNanos();
            purge();
            long c2 = cpuNanos();
            ourP[i] = oursPublish();
            long c3 = cpuNanos();
            purge();
            System.out.printf("publish pair %d: raw %,.0f msg/s (client cpu %.1f us/msg), ours %,.0f msg/s (client cpu %.1f us/msg) (%.2fx)%n",
                    i + 1, rawP[i], (c1 - c0) / 1e3 / n, ourP[i], (c3 - c2) / 1e3 / n, ourP[i] / rawP[i]);
        }
        fill();
        rawConsume();
        fill();
        oursConsume();
        double[] rawC = new double[pairs];
        double[] ourC = new double[pairs];
        for (int i = 0; i < pairs; i++) {
            fill();
            long c0 = cpuNanos();
            java.util.Map<String, Long> t0 = threadCpu();
            rawC[i] = rawConsume();
            long c1 = cpuNanos();
            java.util.Map<String, Long> t1 = threadCpu();
            fill();
            long c2 = cpuNanos();
            java.util.Map<String, Long> t2 = threadCpu();
            ourC[i] = oursConsume();
            long c3 = cpuNanos();
            java.util.Map<String, Long> t3 = threadCpu();
            System.out.printf("consume pair %d: raw %,.0f msg/s (client cpu %.1f us/msg), ours %,.0f msg/s (client cpu %.1f us/msg) (%.2fx)%n",
                    i + 1, rawC[i], (c1 - c0) / 1e3 / n, ourC[i], (c3 - c2) / 1e3 / n, ourC[i] / rawC[i]);
            if (Boolean.getBoolean("threadCpu")) {
                System.out.printf("  cpu us/msg by thread, raw: %s%n  ours: %s%n", perMessage(t0, t1, c1 - c0),
                        perMessage(t2, t3, c3 - c2));
            }
        }
        System.out.printf("%nRESULT publish: raw median %,.0f msg/s, ours median %,.0f msg/s, ratio of medians %.2f, median of pair ratios %.2f%n",
                median(rawP), median(ourP), median(ourP) / median(rawP), median(ratios(ourP, rawP)));
        System.out.printf("RESULT consume: raw median %,.0f msg/s, ours median %,.0f msg/s, ratio of medians %.2f, median of pair ratios %.2f%n",
                median(rawC), median(ourC), median(ourC) / median(rawC), median(ratios(ourC, rawC)));
    }

    private double rawPublish() throws Exception {
        Channel ch = raw.createChannel();
        ch.confirmSelect();
        ConcurrentSkipListMap<Long, Boolean> outstanding = new ConcurrentSkipListMap<>();
        Semaphore permits = new Semaphore(window);
        CountDownLatch done = new CountDownLatch(n);
        ch.addConfirmListener(new ConfirmListener() {
            @Override
            public void handleAck(long seq, boolean multiple) {
                settle(seq, multiple);
            }

            @Override
            public void handleNack(long seq, boolean multiple) {
                settle(seq, multiple);
            }

            private void settle(long seq, boolean multiple) {
                if (multiple) {
                    ConcurrentNavigableMap<Long, Boolean> head = outstanding.headMap(seq, true);
                    int k = head.size();
                    head.clear();
                    permits.release(k);
                    for (int i = 0; i < k; i++) {
                        done.countDown();
                    }
                } else if (outstanding.remove(seq) != null) {
                    permits.release();
                    done.countDown();
                }
            }
        });
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            permits.acquire();
            outstanding.put(ch.getNextPublishSeqNo(), Boolean.TRUE);
            ch.basicPublish(exchange, routingKey, true, rawProps.get(i), rawBodies.get(i));
        }
        if (!done.await(120, TimeUnit.SECONDS)) {
            throw new IllegalStateException("raw publish: confirms missing");
        }
        double rate = n / ((System.nanoTime() - start) / 1e9);
        ch.close();
        return rate;
    }

    private double oursPublish() {
        @SuppressWarnings("unchecked")
        CompletableFuture<Void>[] fs = new CompletableFuture[n];
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            fs[i] = bus.publish(events.get(i), options.get(i));
        }
        for (CompletableFuture<Void> f : fs) {
            f.join();
        }
        return n / ((System.nanoTime() - start) / 1e9);
    }

    private void fill() throws Exception {
        purge();
        rawPublish();
    }

    private double rawConsume() throws Exception {
        Channel ch = raw.createChannel();
        ch.basicQos(prefetch);
        CountDownLatch done = new CountDownLatch(1);
        AtomicLong first = new AtomicLong();
        AtomicLong count = new AtomicLong();
        int expected = n;
        // With shards, the raw side reads each shard queue with the prefetch split the same way ours does.
        int perQueue = Math.max(1, (prefetch + queues.size() - 1) / queues.size());
        int ackEvery = Math.max(1, Math.min(100, perQueue / 2)); // as ours: never wait for more than half the prefetch
        List<Channel> channels = new ArrayList<>();
        for (String q : queues) {
            Channel c = queues.size() == 1 ? ch : raw.createChannel();
            c.basicQos(perQueue);
            channels.add(c);
            c.basicConsume(q, false, new DefaultConsumer(c) {
                private int unacked;

                @Override
                public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties p, byte[] body) throws IOException {
                    first.compareAndSet(0, System.nanoTime());
                    if (++unacked == ackEvery) {
                        getChannel().basicAck(env.getDeliveryTag(), true);
                        unacked = 0;
                    }
                    if (count.incrementAndGet() == expected) {
                        done.countDown();
                    }
                }
            });
        }
        startLag("raw", first.get(), count.get());
        if (!done.await(120, TimeUnit.SECONDS)) {
            throw new IllegalStateException("raw consume: only " + count.get() + " of " + n);
        }
        double rate = n / ((System.nanoTime() - first.get()) / 1e9);
        for (Channel c : channels) {
            c.close(); // unacknowledged remainders go back; purged before the next run
        }
        if (!channels.contains(ch)) {
            ch.close();
        }
        return rate;
    }

    private double oursConsume() throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        AtomicLong first = new AtomicLong();
        AtomicLong count = new AtomicLong();
        Registration r = bus.subscribe(BenchOrder.class, "sink", e -> {
            first.compareAndSet(0, System.nanoTime());
            if (count.incrementAndGet() == n) {
                done.countDown();
            }
        });
        startLag("ours", first.get(), count.get());
        if (!done.await(120, TimeUnit.SECONDS)) {
            throw new IllegalStateException("ours consume: only " + count.get() + " of " + n);
        }
        double rate = n / ((System.nanoTime() - first.get()) / 1e9);
        r.unregister();
        return rate;
    }

    /** With threadCpu: how long the clock ran before every consumer was started (shards start one by one). */
    private static void startLag(String who, long first, long count) {
        if (Boolean.getBoolean("threadCpu")) {
            long now = System.nanoTime();
            System.out.printf("  %s: all consumers started %.1f ms after the first delivery, %d messages in%n", who,
                    first == 0 ? 0.0 : (now - first) / 1e6, count);
        }
    }

    private void purge() throws Exception {
        Channel ch = raw.createChannel();
        for (String q : queues) {
            ch.queuePurge(q);
        }
        ch.close();
    }

    private void close() throws Exception {
        bus.close(Duration.ofSeconds(10));
        Channel ch = raw.createChannel();
        for (String q : queues) {
            ch.queueDelete(q);
        }
        ch.queueDelete(config.prefix() + "bench.sink.dlq");
        ch.queueDelete(config.prefix() + "bench.sink.members");
        ch.exchangeDelete(config.prefix() + "bench.sink.shards");
        ch.exchangeDelete(config.prefix() + "bench.sink.unkeyed");
        ch.exchangeDelete(exchange);
        ch.close();
        raw.close();
    }

    /** CPU time of this JVM so far: what the client side costs the shared machine. */
    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                .getOperatingSystemMXBean()).getProcessCpuTime();
    }

    /** CPU time of the live Java threads so far, summed by name with digits stripped (thread pools). */
    private static java.util.Map<String, Long> threadCpu() {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        java.util.Map<String, Long> m = new java.util.TreeMap<>();
        for (java.lang.management.ThreadInfo ti : mx.getThreadInfo(mx.getAllThreadIds())) {
            if (ti != null) {
                long t = mx.getThreadCpuTime(ti.getThreadId());
                if (t > 0) {
                    m.merge(ti.getThreadName().replaceAll("[0-9]+", "N"), t, Long::sum);
                }
            }
        }
        return m;
    }

    /** The difference of two {@link #threadCpu} snapshots in microseconds per message; "other" = not Java threads (GC, JIT). */
    private String perMessage(java.util.Map<String, Long> before, java.util.Map<String, Long> after, long processNanos) {
        StringBuilder sb = new StringBuilder();
        long java = 0;
        for (java.util.Map.Entry<String, Long> e : after.entrySet()) {
            long d = e.getValue() - before.getOrDefault(e.getKey(), 0L);
            java += d;
            if (d > n * 100L) { // at least 0.1 us per message
                sb.append(String.format("%s=%.1f ", e.getKey(), d / 1e3 / n));
            }
        }
        return sb.append(String.format("other=%.1f", (processNanos - java) / 1e3 / n)).toString();
    }

    private static double[] ratios(double[] ours, double[] raw) {
        double[] r = new double[ours.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = ours[i] / raw[i];
        }
        return r;
    }

    private static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
