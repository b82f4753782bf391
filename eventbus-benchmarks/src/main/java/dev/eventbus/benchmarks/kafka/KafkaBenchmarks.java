package dev.eventbus.benchmarks.kafka;

import dev.eventbus.EventBus;
import dev.eventbus.PublishOptions;
import dev.eventbus.Registration;
import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.kafka.KafkaTransport;
import dev.eventbus.kafka.internal.CloudEventsBinding;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.HdrHistogram.Histogram;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * The Kafka transport through the bus against raw kafka-clients, in one run, on one broker, with the same client
 * {@code Properties} (the transport's effective producer and consumer configuration), alternated A B A B after a
 * warm-up of both (see {@code shared/BENCHMARKS.md}). In the same rounds, the peers a user would pick instead
 * ({@link KafkaPeers}): the CloudEvents Java SDK (publish, consume, latency) and Spring for Apache Kafka (publish,
 * and a listener container with 1 thread and with as many as the bus's workers).
 *
 * <ul>
 *   <li><b>Publish</b> (100 B and 1 KB events): raw = {@code KafkaProducer.send} of records byte-identical to ours
 *       (built before the clock starts with {@link EventBus#messageFor} and the transport's CloudEvents binding);
 *       ours = {@code bus.publish(event, key)} from event objects, so serialization and envelope work count
 *       against us; and the transport alone, sending the same messages pre-built by the bus. All until every
 *       acknowledgement arrived.</li>
 *   <li><b>Consume</b> (100 B): a topic filled once; raw = a {@code KafkaConsumer} poll loop that counts records;
 *       ours = a no-op {@code bus.subscribe} handler (JSON decoding included), and the transport alone with a
 *       no-op {@code MessageHandler}; plus a raw loop that reads each record's {@code ce_type} header, to show how
 *       much of the gap is header parsing the bare loop never does, and one that reads every header's key and value
 *       (not an anchor: the least a consumer handing CloudEvents attributes to its handler does). Each run is a new consumer group reading from
 *       the beginning; timed from the first record to the last.</li>
 *   <li><b>Latency</b> (100 B): open loop at half the raw publish rate measured above (or {@code -Drate=}), and
 *       again at {@code -DlowRate=} (5000/s), a rate the bus sustains on a loaded 2-core machine; the
 *       latency of each record is taken from its intended send time (no coordinated omission) to the handler,
 *       recorded in an HdrHistogram.</li>
 * </ul>
 *
 * <p>The broker runs in a child JVM ({@code TestKafkaBroker} from the Kafka module's test-jar), as in the
 * anchors of {@code BENCHMARKS.md}, unless {@code EVENTBUS_TEST_KAFKA_BOOTSTRAP} names one. System properties:
 * {@code only} (publish,consume,latency; {@code e2e} runs only the latency at {@code lowRate}), {@code pairs} (3), {@code small} (200000 records of 100 B),
 * {@code large} (50000 records of 1 KB), {@code consume} (2000000: at 1M records/s a run of 500000 lasted 0.5 s, too short to
 * be stable), {@code threadCpu} (false: print CPU time per record by thread and of the broker for each publish and consume run), {@code seconds} (5, latency), {@code rate}, and
 * {@code kafka.<client key>} to try a client setting on both sides ({@code -Dkafka.compression.type=zstd}).
 *
 * <p>Run: {@code java -cp eventbus-benchmarks/target/benchmarks.jar dev.eventbus.benchmarks.kafka.KafkaBenchmarks}.
 */
public final class KafkaBenchmarks {

    private static final int PARTITIONS = 6;
    private static final int KEYS = 1000;

    private final String bootstrap;
    private final int pairs = Integer.getInteger("pairs", 3);
    private final Set<String> only = Set.of(System.getProperty("only", "publish,consume,latency").split(","));
    private final Admin admin;
    private final List<String> report = new ArrayList<>();
    private double rawMax100 = Double.NaN;
    /** The broker's process when this JVM started it: its CPU time is reported with {@code -DthreadCpu=true}. */
    private static volatile ProcessHandle brokerProcess;
    private static final boolean THREAD_CPU = Boolean.getBoolean("threadCpu");
    /** The CPU per record of this JVM's threads in the last {@code CpuSnapshot.print} (GC and JIT left out). */
    private static volatile double lastThreadCpu = Double.NaN;

    private KafkaBenchmarks(String bootstrap) {
        this.bootstrap = bootstrap;
        this.admin = Admin.create(Map.of("bootstrap.servers", bootstrap));
    }

    public static void main(String[] args) throws Exception {
        Process broker = null;
        String bootstrap = System.getenv("EVENTBUS_TEST_KAFKA_BOOTSTRAP");
        if (bootstrap == null || bootstrap.isBlank()) {
            broker = BrokerProcess.start();
            brokerProcess = broker.toHandle();
            bootstrap = BrokerProcess.bootstrap(broker);
        }
        try {
            KafkaBenchmarks b = new KafkaBenchmarks(bootstrap);
            b.run();
        } finally {
            if (broker != null) {
                broker.destroy();
                broker.waitFor(20, TimeUnit.SECONDS);
            }
        }
        System.exit(0);
    }

    private void run() throws Exception {
        System.out.printf("Kafka transport vs raw kafka-clients, %s, %d cores, Java %s, broker %s%n", LocalDate.now(),
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), bootstrap);
        if (only.contains("publish")) {
            publish(Integer.getInteger("small", 200_000), 100);
            publish(Integer.getInteger("large", 50_000), 1024);
        }
        if (only.contains("consume")) {
            consume(Integer.getInteger("consume", 2_000_000), 100);
        }
        if (only.contains("e2e")) {
            // Only the rate both sides sustain (the end-to-end target), without the half-maximum run.
            latency(Double.parseDouble(System.getProperty("lowRate", "5000")));
        }
        if (only.contains("latency")) {
            double half = Double.parseDouble(System.getProperty("rate",
                    Double.isNaN(rawMax100) ? "50000" : Long.toString(Math.round(rawMax100 / 2))));
            latency(half);
            // Half the raw maximum can exceed what the bus sustains on a loaded 2-core machine, and then the
            // figure is queueing, not latency: also measure at a rate both sides sustain.
            latency(Double.parseDouble(System.getProperty("lowRate", "5000")));
        }
        System.out.println();
        System.out.println("Summary");
        report.forEach(System.out::println);
        admin.close();
    }

    // ----------------------------------------------------------------------------------------------------- config

    /** The transport's configuration; its effective client properties are also the raw clients'. */
    private KafkaConfig config(String prefix) {
        return config(prefix, "bench");
    }

    private KafkaConfig config(String prefix, String service) {
        KafkaConfig.Builder b = KafkaConfig.builder().serviceName(service).bootstrapServers(bootstrap)
                .set(KafkaConfig.TOPIC_PREFIX, prefix)
                .set(KafkaConfig.PARTITIONS, PARTITIONS)
                .set("consumer.max.poll.records", "2000");
        // set, not setAll: setAll keeps only eventbus.kafka.* keys, so client keys given as -Dkafka.linger.ms=20
        // were silently dropped (set puts the eventbus.kafka. prefix in front of a bare client key).
        extraClientProperties().forEach(b::set);
        return b.build();
    }

    /** Client settings to try, from {@code -Dkafka.<key>=<value>} (for example {@code -Dkafka.linger.ms=20}). */
    private static Map<String, String> extraClientProperties() {
        Map<String, String> m = new java.util.TreeMap<>();
        for (String name : System.getProperties().stringPropertyNames()) {
            if (name.startsWith("kafka.")) {
                m.put(name.substring("kafka.".length()), System.getProperty(name));
            }
        }
        return m;
    }

    /** The transport's producer properties under another client id, so each producer's metrics stay apart. */
    private static java.util.Properties rawProducerProperties(KafkaConfig config) {
        java.util.Properties p = new java.util.Properties();
        p.putAll(config.producerProperties());
        p.put("client.id", "bench-raw");
        return p;
    }

    private static String prefix(String what) {
        return "bench-" + what + "-" + UUID.randomUUID().toString().substring(0, 6) + ".";
    }

    /**
     * Creates the topic and waits until every partition's leader answers ListOffsets, as the transport does before
     * its first send: otherwise the raw and peer producers' first requests can meet the broker's NOT_LEADER then
     * OUT_OF_ORDER_SEQUENCE stall on a fresh partition (KAFKA-15591, brokers before 4.5) and measure that instead.
     */
    private void createTopic(String topic) throws Exception {
        admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get(30, TimeUnit.SECONDS);
        Map<org.apache.kafka.common.TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> probe = new java.util.HashMap<>();
        for (int p = 0; p < PARTITIONS; p++) {
            probe.put(new org.apache.kafka.common.TopicPartition(topic, p), org.apache.kafka.clients.admin.OffsetSpec.latest());
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try {
                admin.listOffsets(probe).all().get(30, TimeUnit.SECONDS);
                return;
            } catch (java.util.concurrent.ExecutionException e) {
                check(System.nanoTime() < deadline, "partitions of " + topic + " not writable: " + e.getCause());
                Thread.sleep(20);
            }
        }
    }

    private static EventBus bus(KafkaConfig config) {
        return EventBus.builder().service("bench").transport(KafkaTransport.create(config)).build();
    }

    private static List<BenchEvent> events(int n, int bytes) {
        return events(0, n, bytes);
    }

    private static List<BenchEvent> events(int from, int to, int bytes) {
        List<BenchEvent> out = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) {
            out.add(BenchEvent.ofSize("o-" + (i % KEYS), i, bytes));
        }
        return out;
    }

    private static PublishOptions[] keyed(List<BenchEvent> events) {
        PublishOptions[] o = new PublishOptions[events.size()];
        for (int i = 0; i < o.length; i++) {
            o[i] = PublishOptions.builder().key(events.get(i).orderId()).build();
        }
        return o;
    }

    /** Records byte-identical to what {@code bus.publish(event, options)} sends, through the same binding. */
    private static List<ProducerRecord<byte[], byte[]>> rawRecords(EventBus bus, KafkaConfig config,
                                                                   List<BenchEvent> events, PublishOptions[] options) {
        CloudEventsBinding binding = new CloudEventsBinding(false);
        List<ProducerRecord<byte[], byte[]>> out = new ArrayList<>(events.size());
        for (int i = 0; i < events.size(); i++) {
            TransportMessage m = bus.messageFor(events.get(i), options[i]);
            String key = config.recordKey(m);
            out.add(binding.toRecord(config.topic(m.stream()), key.getBytes(StandardCharsets.UTF_8), m));
        }
        return out;
    }

    // ----------------------------------------------------------------------------------------------------- publish

    private void publish(int n, int bytes) throws Exception {
        System.out.printf("%nPublish, %d events of %d B, %d partitions, acks=all, idempotent, lz4, linger 5 ms%n",
                n, bytes, PARTITIONS);
        String prefix = prefix("pub" + bytes);
        KafkaConfig config = config(prefix);
        createTopic(config.topic(BenchEvent.STREAM));
        List<BenchEvent> events = events(n, bytes);
        PublishOptions[] options = keyed(events);
        String topic = config.topic(BenchEvent.STREAM);
        var springFactory = KafkaPeers.springProducerFactory(config);
        var spring = new org.springframework.kafka.core.KafkaTemplate<>(springFactory);
        try (EventBus bus = bus(config);
             KafkaTransport transport = KafkaTransport.create(config(prefix, "bench-alone"));
             KafkaProducer<byte[], byte[]> raw = new KafkaProducer<>(rawProducerProperties(config));
             KafkaProducer<String, io.cloudevents.CloudEvent> sdk = KafkaPeers.sdkProducer(config)) {
            List<ProducerRecord<byte[], byte[]>> records = rawRecords(bus, config, events, options);
            List<TransportMessage> messages = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                messages.add(bus.messageFor(events.get(i), options[i]));
            }
            System.out.printf("  record value %d B, %d headers%n", records.get(0).value().length,
                    records.get(0).headers().toArray().length);
            double[] rawRates = new double[pairs];
            double[] ourRates = new double[pairs];
            double[] transportRates = new double[pairs];
            rawPublish(raw, records);
            busPublish(bus, events, options);
            transportPublish(transport, messages);
            double[] sdkRates = new double[pairs];
            double[] springRates = new double[pairs];
            KafkaPeers.sdkPublish(sdk, topic, events);
            KafkaPeers.springPublish(spring, topic, events); // warm-up of all five, then alternated
            for (int p = 0; p < pairs; p++) {
                CpuSnapshot cpu = CpuSnapshot.take();
                ProducerTraffic traffic = ProducerTraffic.take();
                rawRates[p] = rawPublish(raw, records);
                cpu = printCpu(cpu, "raw", n);
                traffic = traffic.print("raw");
                ourRates[p] = busPublish(bus, events, options);
                cpu = printCpu(cpu, "bus", n);
                traffic = traffic.print("bus");
                sdkRates[p] = KafkaPeers.sdkPublish(sdk, topic, events);
                cpu = printCpu(cpu, "CloudEvents SDK", n);
                traffic = traffic.print("CloudEvents SDK");
                transportRates[p] = transportPublish(transport, messages);
                cpu = printCpu(cpu, "transport alone", n);
                traffic = traffic.print("transport alone");
                springRates[p] = KafkaPeers.springPublish(spring, topic, events);
                printCpu(cpu, "Spring KafkaTemplate", n);
                traffic.print("Spring KafkaTemplate");
                System.out.printf("  round %d: raw %,.0f rec/s, bus %,.0f rec/s (%.2fx), transport alone %,.0f rec/s (%.2fx)%n",
                        p + 1, rawRates[p], ourRates[p], ourRates[p] / rawRates[p], transportRates[p],
                        transportRates[p] / rawRates[p]);
                System.out.printf("    CloudEvents SDK %,.0f rec/s (bus %.2fx of it), Spring KafkaTemplate %,.0f rec/s "
                        + "(bus %.2fx of it)%n", sdkRates[p], ourRates[p] / sdkRates[p], springRates[p],
                        ourRates[p] / springRates[p]);
            }
            printBatching();
            double r = median(rawRates);
            double o = median(ourRates);
            double t = median(transportRates);
            double sd = median(sdkRates);
            double sp = median(springRates);
            report.add(String.format(Locale.ROOT, "publish %4d B: CloudEvents SDK %,9.0f rec/s  bus ratio %.2f (target >= 1.2)",
                    bytes, sd, o / sd));
            report.add(String.format(Locale.ROOT, "publish %4d B: Spring KafkaTemplate %,9.0f rec/s  bus ratio %.2f (target >= 1.0)",
                    bytes, sp, o / sp));
            if (bytes == 100) {
                rawMax100 = r;
            }
            report.add(String.format(Locale.ROOT, "publish %4d B: raw %,9.0f rec/s  bus %,9.0f rec/s  ratio %.2f (target >= 0.75)",
                    bytes, r, o, o / r));
            report.add(String.format(Locale.ROOT, "publish %4d B: raw %,9.0f rec/s  transport alone %,9.0f rec/s  ratio %.2f",
                    bytes, r, t, t / r));
        } finally {
            springFactory.destroy();
        }
    }

    /**
     * Records per batch of each producer in this JVM, from their JMX metrics: batching is where a slower caller
     * loses twice over (smaller batches cost more per record), so a ratio is only explained alongside these.
     */
    private static void printBatching() {
        try {
            javax.management.MBeanServer server = java.lang.management.ManagementFactory.getPlatformMBeanServer();
            for (javax.management.ObjectName name : server.queryNames(
                    new javax.management.ObjectName("kafka.producer:type=producer-metrics,*"), null)) {
                System.out.printf("  producer %s: %.0f B per batch, %.1f records per request, %.1f ms queued%n",
                        name.getKeyProperty("client-id"), (Double) server.getAttribute(name, "batch-size-avg"),
                        (Double) server.getAttribute(name, "records-per-request-avg"),
                        (Double) server.getAttribute(name, "record-queue-time-avg"));
            }
        } catch (Exception e) {
            System.out.println("  (producer metrics unavailable: " + e + ")");
        }
    }

    /**
     * The cumulative send counters of every producer in this JVM (by client id), so that one run's records per
     * produce request and bytes per record are read as the difference of two snapshots: the producers' own
     * {@code records-per-request-avg} averages over 30 s windows, which mix several runs.
     */
    private record ProducerTraffic(Map<String, double[]> byClient) {
        private static final String[] TOTALS = {"record-send-total", "request-total", "outgoing-byte-total"};

        static ProducerTraffic take() {
            Map<String, double[]> m = new java.util.TreeMap<>();
            try {
                javax.management.MBeanServer server = java.lang.management.ManagementFactory.getPlatformMBeanServer();
                for (javax.management.ObjectName name : server.queryNames(
                        new javax.management.ObjectName("kafka.producer:type=producer-metrics,*"), null)) {
                    double[] v = new double[TOTALS.length];
                    for (int i = 0; i < v.length; i++) {
                        v[i] = ((Number) server.getAttribute(name, TOTALS[i])).doubleValue();
                    }
                    m.put(name.getKeyProperty("client-id"), v);
                }
            } catch (Exception e) {
                System.out.println("  (producer metrics unavailable: " + e + ")");
            }
            return new ProducerTraffic(m);
        }

        /** Prints what each producer sent since this snapshot (only those that sent) and returns a new one. */
        ProducerTraffic print(String what) {
            ProducerTraffic now = take();
            now.byClient.forEach((client, v) -> {
                double[] before = byClient.getOrDefault(client, new double[TOTALS.length]);
                double records = v[0] - before[0];
                double requests = v[1] - before[1];
                if (records > 0) {
                    System.out.printf(Locale.ROOT, "    producer traffic, %s (%s): %.0f records in %.0f requests, "
                            + "%.0f records per request, %.0f B sent per record%n", what,
                            client.replaceAll("-[^-]+-[0-9]+-[0-9]+$", ""), records, requests,
                            records / Math.max(1, requests), (v[2] - before[2]) / records);
                }
            });
            return now;
        }
    }

    private static double rawPublish(KafkaProducer<byte[], byte[]> producer, List<ProducerRecord<byte[], byte[]>> records)
            throws InterruptedException {
        CountDownLatch done = new CountDownLatch(records.size());
        AtomicLong failed = new AtomicLong();
        long t0 = System.nanoTime();
        for (ProducerRecord<byte[], byte[]> r : records) {
            producer.send(r, (md, e) -> {
                if (e != null) {
                    failed.incrementAndGet();
                }
                done.countDown();
            });
        }
        done.await();
        long t1 = System.nanoTime();
        check(failed.get() == 0, "raw sends failed: " + failed.get());
        return records.size() * 1e9 / (t1 - t0);
    }

    private static double busPublish(EventBus bus, List<BenchEvent> events, PublishOptions[] options)
            throws InterruptedException {
        CountDownLatch done = new CountDownLatch(events.size());
        AtomicLong failed = new AtomicLong();
        long t0 = System.nanoTime();
        for (int i = 0; i < options.length; i++) {
            bus.publish(events.get(i), options[i]).whenComplete((v, e) -> {
                if (e != null) {
                    failed.incrementAndGet();
                }
                done.countDown();
            });
        }
        done.await();
        long t1 = System.nanoTime();
        check(failed.get() == 0, "bus publishes failed: " + failed.get());
        return events.size() * 1e9 / (t1 - t0);
    }

    /** Pre-built messages (the bus's work already done) through the transport: its own cost only. */
    private static double transportPublish(KafkaTransport transport, List<TransportMessage> messages)
            throws InterruptedException {
        CountDownLatch done = new CountDownLatch(messages.size());
        AtomicLong failed = new AtomicLong();
        long t0 = System.nanoTime();
        for (TransportMessage m : messages) {
            transport.send(m).whenComplete((v, e) -> {
                if (e != null) {
                    failed.incrementAndGet();
                }
                done.countDown();
            });
        }
        done.await();
        long t1 = System.nanoTime();
        check(failed.get() == 0, "transport sends failed: " + failed.get());
        return messages.size() * 1e9 / (t1 - t0);
    }

    // ----------------------------------------------------------------------------------------------------- consume

    private void consume(int n, int bytes) throws Exception {
        System.out.printf("%nConsume, %d events of %d B, %d partitions, max.poll.records 2000, read_committed%n", n, bytes,
                PARTITIONS);
        String prefix = prefix("con");
        KafkaConfig config = config(prefix);
        String topic = config.topic(BenchEvent.STREAM);
        createTopic(topic);
        try (EventBus filler = bus(config);
             KafkaProducer<byte[], byte[]> raw = new KafkaProducer<>(config.producerProperties())) {
            int chunk = 200_000; // the same records as one list, without holding millions of them at once
            for (int from = 0; from < n; from += chunk) {
                List<BenchEvent> events = events(from, Math.min(n, from + chunk), bytes);
                rawPublish(raw, rawRecords(filler, config, events, keyed(events)));
            }
        }
        double[] rawRates = new double[pairs];
        double[] rawTypedRates = new double[pairs];
        double[] rawAllRates = new double[pairs];
        double[] busRates = new double[pairs];
        double[] transportRates = new double[pairs];
        rawConsume(config, topic, n, RAW_PLAIN);
        rawConsume(config, topic, n, RAW_TYPE);
        rawConsume(config, topic, n, RAW_ALL_HEADERS);
        busConsume(config, n);
        transportConsume(config, n);
        double[] sdkRates = new double[pairs];
        double[] spring1Rates = new double[pairs];
        double[] springNRates = new double[pairs];
        KafkaPeers.sdkConsume(config, topic, n);
        KafkaPeers.springConsume(config, topic, n, 1);
        KafkaPeers.springConsume(config, topic, n, WORKERS); // warm-up of all, then alternated
        // CPU per record of this JVM's threads (consumers, workers, listener containers; not GC or JIT) by side,
        // with -DthreadCpu=true: on a loaded machine it holds up where the rates swing.
        double[][] threadCpu = new double[6][pairs];
        for (int p = 0; p < pairs; p++) {
            rawRates[p] = rawConsume(config, topic, n, RAW_PLAIN);
            threadCpu[0][p] = lastThreadCpu;
            busRates[p] = busConsume(config, n);
            threadCpu[1][p] = lastThreadCpu;
            sdkRates[p] = timedPeer("CloudEvents SDK consumer", n, () -> KafkaPeers.sdkConsume(config, topic, n));
            threadCpu[2][p] = lastThreadCpu;
            rawTypedRates[p] = rawConsume(config, topic, n, RAW_TYPE);
            spring1Rates[p] = springTimed("Spring container, 1 thread", config, topic, n, 1);
            threadCpu[3][p] = lastThreadCpu;
            rawAllRates[p] = rawConsume(config, topic, n, RAW_ALL_HEADERS);
            transportRates[p] = transportConsume(config, n);
            threadCpu[5][p] = lastThreadCpu;
            springNRates[p] = springTimed("Spring container, " + WORKERS + " threads", config, topic, n, WORKERS);
            threadCpu[4][p] = lastThreadCpu;
            System.out.printf("  round %d: CloudEvents SDK %,.0f rec/s (bus %.2fx of it), Spring 1 thread %,.0f rec/s "
                    + "(bus %.2fx), Spring %d threads %,.0f rec/s (bus %.2fx)%n", p + 1, sdkRates[p],
                    busRates[p] / sdkRates[p], spring1Rates[p], busRates[p] / spring1Rates[p], WORKERS, springNRates[p],
                    busRates[p] / springNRates[p]);
            System.out.printf("  round %d: raw %,.0f rec/s, bus %,.0f rec/s (%.2fx), transport alone %,.0f rec/s (%.2fx); "
                    + "raw reading ce_type %,.0f rec/s (transport %.2fx of it)%n", p + 1, rawRates[p], busRates[p],
                    busRates[p] / rawRates[p], transportRates[p], transportRates[p] / rawRates[p], rawTypedRates[p],
                    transportRates[p] / rawTypedRates[p]);
            System.out.printf("    raw reading every header %,.0f rec/s (%.2fx of raw; bus %.2fx of it)%n", rawAllRates[p],
                    rawAllRates[p] / rawRates[p], busRates[p] / rawAllRates[p]);
        }
        double rt = median(rawTypedRates);
        double r = median(rawRates);
        double b = median(busRates);
        double t = median(transportRates);
        report.add(String.format(Locale.ROOT, "consume %3d B: raw %,9.0f rec/s  bus %,9.0f rec/s  ratio %.2f (target >= 0.5)",
                bytes, r, b, b / r));
        double sd = median(sdkRates);
        double s1 = median(spring1Rates);
        double sn = median(springNRates);
        report.add(String.format(Locale.ROOT, "consume %3d B: CloudEvents SDK %,9.0f rec/s  bus ratio %.2f (target >= 1.5)",
                bytes, sd, b / sd));
        report.add(String.format(Locale.ROOT, "consume %3d B: Spring container 1 thread %,9.0f rec/s  bus ratio %.2f",
                bytes, s1, b / s1));
        report.add(String.format(Locale.ROOT, "consume %3d B: Spring container %d threads %,9.0f rec/s  bus ratio %.2f (target >= 1.0)",
                bytes, WORKERS, sn, b / sn));
        report.add(String.format(Locale.ROOT, "consume %3d B: raw %,9.0f rec/s  transport alone %,9.0f rec/s  ratio %.2f",
                bytes, r, t, t / r));
        report.add(String.format(Locale.ROOT, "consume %3d B: raw reading ce_type %,9.0f rec/s  transport alone ratio %.2f",
                bytes, rt, t / rt));
        if (THREAD_CPU) {
            String[] sides = {"raw", "bus", "CloudEvents SDK", "Spring 1 thread", "Spring " + WORKERS + " threads",
                    "transport alone"};
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < sides.length; i++) {
                sb.append(String.format(Locale.ROOT, "%s%s %.2f %s", i == 0 ? "" : ", ", sides[i], median(threadCpu[i]),
                        Arrays.toString(threadCpu[i]).replaceAll("(\\.\\d\\d)\\d+", "$1")));
            }
            report.add(String.format(Locale.ROOT, "consume %3d B: CPU us/record of this JVM's threads (median [rounds]): %s",
                    bytes, sb));
        }
        double ra = median(rawAllRates);
        report.add(String.format(Locale.ROOT, "consume %3d B: raw reading every header %,9.0f rec/s (%.2fx of raw)  bus ratio %.2f",
                bytes, ra, ra / r, b / ra));
    }

    /**
     * @param headers  {@link #RAW_PLAIN}; {@link #RAW_TYPE}: also read each record's {@code ce_type} header, as any
     *                 CloudEvents consumer must (kafka-clients
     *                 parses a record's headers on first access, so a loop that never looks at them skips that work);
     *                 {@link #RAW_ALL_HEADERS}: read every header's key and value
     */
    private static double rawConsume(KafkaConfig config, String topic, int n, int headers) {
        CpuSnapshot cpu = CpuSnapshot.take();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(config.consumerProperties("raw-" + UUID.randomUUID()))) {
            c.subscribe(List.of(topic));
            long count = 0;
            long t0 = 0;
            long checksum = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (count < n) {
                ConsumerRecords<byte[], byte[]> recs = c.poll(Duration.ofMillis(100));
                if (!recs.isEmpty() && t0 == 0) {
                    t0 = System.nanoTime();
                }
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    checksum += r.value().length; // touch each record, as a no-op handler would be handed it
                    if (headers == RAW_ALL_HEADERS) {
                        for (Header h : r.headers()) {
                            checksum += h.key().length() + h.value().length;
                        }
                    } else if (headers == RAW_TYPE) {
                        Header type = r.headers().lastHeader("ce_type");
                        checksum += type == null ? 0 : type.value().length;
                    }
                    count++;
                }
                if (!recs.isEmpty()) {
                    c.commitAsync();
                }
                check(System.nanoTime() < deadline, "raw consumer stalled at " + count);
            }
            long t1 = System.nanoTime();
            check(checksum > 0, "no bytes");
            if (cpu != null) {
                cpu.print(headers == RAW_TYPE ? "raw reading ce_type" : headers == RAW_ALL_HEADERS
                        ? "raw reading every header" : "raw", n);
            }
            return n * 1e9 / (t1 - t0);
        }
    }

    /** A Spring container run, its threads' CPU read (with {@code -DthreadCpu=true}) before the container stops. */
    private static double springTimed(String what, KafkaConfig config, String topic, int n, int threads) throws Exception {
        CpuSnapshot cpu = CpuSnapshot.take();
        return KafkaPeers.springConsume(config, topic, n, threads, () -> {
            if (cpu != null) {
                cpu.print(what, n);
            }
        });
    }

    /** The bus's and the transport's workers per subscription (the bus's default concurrency). */
    private static final int WORKERS = 4;

    private interface PeerRun {
        double run() throws Exception;
    }

    /** Runs a peer, printing its CPU per record with {@code -DthreadCpu=true} (before its threads end). */
    private static double timedPeer(String what, int n, PeerRun run) throws Exception {
        CpuSnapshot cpu = CpuSnapshot.take();
        double rate = run.run();
        if (cpu != null) {
            cpu.print(what, n);
        }
        return rate;
    }

    /** The anchor: a poll loop that touches each record's value. */
    private static final int RAW_PLAIN = 0;
    private static final int RAW_TYPE = 1;
    /**
     * Not an anchor: a loop that reads every header's key and value, the least any consumer that hands the
     * CloudEvents attributes to its handler does; shows how much of the gap reading the headers alone is.
     */
    private static final int RAW_ALL_HEADERS = 2;

    private static double busConsume(KafkaConfig config, int n) throws InterruptedException {
        CpuSnapshot cpu = CpuSnapshot.take();
        AtomicLong first = new AtomicLong();
        AtomicLong count = new AtomicLong();
        CountDownLatch done = new CountDownLatch(1);
        try (EventBus bus = bus(config);
             Registration r = bus.subscribe(BenchEvent.class, "bus-" + UUID.randomUUID(), e -> {
                 if (count.get() == 0) {
                     first.compareAndSet(0, System.nanoTime());
                 }
                 if (count.incrementAndGet() == n) {
                     done.countDown();
                 }
             })) {
            check(done.await(120, TimeUnit.SECONDS), "bus consumer stalled at " + count.get());
            double rate = n * 1e9 / (System.nanoTime() - first.get());
            if (cpu != null) {
                cpu.print("bus", n); // before closing: the subscription's threads end with it
            }
            return rate;
        }
    }

    private static double transportConsume(KafkaConfig config, int n) throws InterruptedException {
        CpuSnapshot cpu = CpuSnapshot.take();
        AtomicLong first = new AtomicLong();
        AtomicLong count = new AtomicLong();
        CountDownLatch done = new CountDownLatch(1);
        try (KafkaTransport t = KafkaTransport.create(config)) {
            TransportSubscription s = t.subscribe(new SubscriptionRequest("transport-" + UUID.randomUUID(),
                    BenchEvent.STREAM, Set.of(BenchEvent.TYPE), WORKERS, true), d -> {
                if (count.get() == 0) {
                    first.compareAndSet(0, System.nanoTime());
                }
                if (count.incrementAndGet() == n) {
                    done.countDown();
                }
                return Outcome.ack();
            });
            check(done.await(120, TimeUnit.SECONDS), "transport consumer stalled at " + count.get());
            double rate = n * 1e9 / (System.nanoTime() - first.get());
            if (cpu != null) {
                cpu.print("transport", n);
            }
            s.close(Duration.ofSeconds(10));
            return rate;
        }
    }

    // ----------------------------------------------------------------------------------------------------- latency

    private void latency(double rate) throws Exception {
        int seconds = Integer.getInteger("seconds", 5);
        System.out.printf("%nEnd-to-end latency, 100 B, open loop at %,.0f events/s for %d s (after 2 s of warm-up), "
                + "from intended send time to handler%n", rate, seconds);
        List<Histogram> raws = new ArrayList<>();
        List<Histogram> buses = new ArrayList<>();
        List<Histogram> sdks = new ArrayList<>();
        int rounds = Math.max(1, pairs - 1);
        // Round 0 warms the JVM up and is not counted: the first side to run an open loop in this JVM compiled
        // its code while measured (e2e fix run 2, round 1: bus p99 1,126 ms, raw 303 ms, SDK 465 ms, each
        // side's cold start landing in the measured window).
        for (int p = -1; p < rounds; p++) {
            long gc0 = gcMillis();
            Histogram r = rawLatency(rate, seconds);
            long gc1 = gcMillis();
            String rs = slowBursts() + " (GC pauses " + (gc1 - gc0) + " ms)";
            Histogram b = busLatency(rate, seconds);
            long gc2 = gcMillis();
            String bs = slowBursts() + " (GC pauses " + (gc2 - gc1) + " ms)";
            Histogram c = sdkLatency(rate, seconds);
            String cs = slowBursts() + " (GC pauses " + (gcMillis() - gc2) + " ms)";
            if (p < 0) {
                System.out.printf("  warm-up round, not counted: raw p99 %.1f ms, bus p99 %.1f ms, SDK p99 %.1f ms%n",
                        r.getValueAtPercentile(99) / 1e6, b.getValueAtPercentile(99) / 1e6, c.getValueAtPercentile(99) / 1e6);
                continue;
            }
            raws.add(r);
            buses.add(b);
            sdks.add(c);
            System.out.printf("  round %d (load average %.1f): raw %s | bus %s | CloudEvents SDK %s%n", p + 1,
                    java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage(),
                    percentiles(r), percentiles(b), percentiles(c));
            System.out.printf("    events over %d ms by burst: raw%s%n    bus%s%n    SDK%s%n",
                    TimeUnit.NANOSECONDS.toMillis(SLOW_NANOS), rs, bs, cs);
        }
        Histogram r = new Histogram(3);
        raws.forEach(r::add);
        Histogram b = new Histogram(3);
        buses.forEach(b::add);
        Histogram c = new Histogram(3);
        sdks.forEach(c::add);
        report.add(String.format(Locale.ROOT, "latency at %,.0f/s: raw %s", rate, percentiles(r)));
        report.add(String.format(Locale.ROOT, "latency at %,.0f/s: bus %s", rate, percentiles(b)));
        report.add(String.format(Locale.ROOT, "latency at %,.0f/s: CloudEvents SDK %s (bus p99 %.2fx of it)", rate,
                percentiles(c), (double) b.getValueAtPercentile(99) / c.getValueAtPercentile(99)));
    }

    private static String percentiles(Histogram h) {
        return String.format(Locale.ROOT, "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms (n=%d)",
                h.getValueAtPercentile(50) / 1e6, h.getValueAtPercentile(90) / 1e6, h.getValueAtPercentile(99) / 1e6,
                h.getValueAtPercentile(99.9) / 1e6, h.getMaxValue() / 1e6, h.getTotalCount());
    }

    private Histogram rawLatency(double rate, int seconds) throws Exception {
        KafkaConfig config = config(prefix("lat-raw"));
        String topic = config.topic(BenchEvent.STREAM);
        createTopic(topic);
        Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        Window w = new Window(seconds);
        BenchEvent event = BenchEvent.ofSize("o-1", 0, 100);
        try (EventBus shape = bus(config);
             KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(config.producerProperties())) {
            TransportMessage template = shape.messageFor(event, PublishOptions.builder().key("o-1").build());
            CloudEventsBinding binding = new CloudEventsBinding(false);
            Thread consumer = consumerThread(config, topic, h, w);
            awaitAssigned(consumer);
            openLoop(rate, w, (i, at) -> {
                String key = "o-" + (i % KEYS);
                TransportMessage m = template.withHeaders(Map.of(BenchEvent.SENT_HEADER, Long.toString(at)));
                producer.send(binding.toRecord(topic, key.getBytes(StandardCharsets.UTF_8), m));
            });
            consumer.join(TimeUnit.SECONDS.toMillis(seconds + 30L));
        }
        return h;
    }

    private Histogram busLatency(double rate, int seconds) throws Exception {
        KafkaConfig config = config(prefix("lat-bus"));
        createTopic(config.topic(BenchEvent.STREAM));
        Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        Window w = new Window(seconds);
        BenchEvent event = BenchEvent.ofSize("o-1", 0, 100);
        try (EventBus bus = bus(config)) {
            CountDownLatch finished = new CountDownLatch(1);
            bus.register(new LatencySubscriber(h, w, finished));
            awaitGroup(config, "latency");
            openLoop(rate, w, (i, at) -> bus.publish(event, PublishOptions.builder().key("o-" + (i % KEYS))
                    .header(BenchEvent.SENT_HEADER, Long.toString(at)).build()));
            finished.await(30, TimeUnit.SECONDS);
        }
        return h;
    }

    /**
     * The CloudEvents SDK side: events built with its builder (the intended send time as the {@code sentat}
     * extension, so a {@code ce_sentat} header as ours), one poll loop with its deserializer decoding the data.
     */
    private Histogram sdkLatency(double rate, int seconds) throws Exception {
        KafkaConfig config = config(prefix("lat-sdk"));
        String topic = config.topic(BenchEvent.STREAM);
        createTopic(topic);
        Histogram h = new Histogram(TimeUnit.SECONDS.toNanos(60), 3);
        Window w = new Window(seconds);
        BenchEvent event = BenchEvent.ofSize("o-1", 0, 100);
        java.util.Map<String, Object> cp = new java.util.HashMap<>();
        config.consumerProperties("sdk-lat-" + UUID.randomUUID()).forEach((k, v) -> cp.put(String.valueOf(k), v));
        cp.put("key.deserializer", org.apache.kafka.common.serialization.StringDeserializer.class.getName());
        cp.put("value.deserializer", io.cloudevents.kafka.CloudEventDeserializer.class.getName());
        com.fasterxml.jackson.databind.ObjectMapper mapper = new com.fasterxml.jackson.databind.ObjectMapper();
        Thread consumer = new Thread(() -> {
            try (KafkaConsumer<String, io.cloudevents.CloudEvent> c = new KafkaConsumer<>(cp)) {
                c.subscribe(List.of(topic));
                long lastSeen = 0;
                while (lastSeen < w.end) {
                    for (ConsumerRecord<String, io.cloudevents.CloudEvent> r : c.poll(Duration.ofMillis(50))) {
                        long now = System.nanoTime();
                        io.cloudevents.CloudEvent ce = r.value();
                        BenchEvent e = mapper.readValue(ce.getData().toBytes(), BenchEvent.class);
                        long at = Long.parseLong(String.valueOf(ce.getExtension(BenchEvent.SENT_HEADER)));
                        lastSeen = at;
                        if (w.measured(at) && e.seq() >= 0) {
                            recordLatency(h, at, now);
                        }
                    }
                    if (!c.assignment().isEmpty()) {
                        ready.add(Thread.currentThread());
                    }
                }
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
        }, "sdk-latency-consumer");
        consumer.setDaemon(true);
        consumer.start();
        awaitAssigned(consumer);
        try (KafkaProducer<String, io.cloudevents.CloudEvent> producer = KafkaPeers.sdkProducer(config)) {
            openLoop(rate, w, (i, at) -> {
                String key = "o-" + (i % KEYS);
                io.cloudevents.CloudEvent ce = io.cloudevents.core.builder.CloudEventBuilder.v1(KafkaPeers.cloudEvent(event))
                        .withSubject(key).withExtension(BenchEvent.SENT_HEADER, Long.toString(at)).build();
                producer.send(new ProducerRecord<>(topic, key, ce));
            });
            consumer.join(TimeUnit.SECONDS.toMillis(seconds + 30L));
        }
        return h;
    }

    /** Events slower than {@link #SLOW_NANOS} in the current side's run: {intended send time, latency}. */
    private static final java.util.Queue<long[]> SLOW = new java.util.concurrent.ConcurrentLinkedQueue<>();
    private static final long SLOW_NANOS = TimeUnit.MILLISECONDS.toNanos(Long.getLong("slowMs", 20));
    /** When the current side's open loop started sending (System.nanoTime). */
    private static volatile long loopStart;

    private static void recordLatency(Histogram h, long at, long now) {
        long lat = Math.max(0, now - at);
        synchronized (h) {
            h.recordValue(lat);
        }
        if (lat >= SLOW_NANOS) {
            SLOW.add(new long[] {at, lat});
        }
    }

    /**
     * The slow events of the side just run, grouped into bursts (intended send times less than 100 ms apart),
     * each given by its start relative to the open loop's first send: shows whether a tail is one stall at the
     * start (warm-up, group join) or recurs (commits, metadata, GC).
     */
    private static String slowBursts() {
        List<long[]> all = new ArrayList<>(SLOW);
        SLOW.clear();
        all.sort(java.util.Comparator.comparingLong(a -> a[0]));
        StringBuilder sb = new StringBuilder();
        int i = 0;
        while (i < all.size()) {
            int j = i;
            long max = 0;
            while (j < all.size() && (j == i || all.get(j)[0] - all.get(j - 1)[0] < 100_000_000L)) {
                max = Math.max(max, all.get(j)[1]);
                j++;
            }
            sb.append(String.format(Locale.ROOT, " [+%d ms, %d ms long, %d events, max %.0f ms]",
                    (all.get(i)[0] - loopStart) / 1_000_000, (all.get(j - 1)[0] - all.get(i)[0]) / 1_000_000, j - i,
                    max / 1e6));
            i = j;
        }
        return all.isEmpty() ? " none" : sb.toString();
    }

    private static final int WARM_UP_SECONDS = 2;

    /** Time this JVM's collectors have spent, all sides' runs included (run with -Xlog:gc for each pause). */
    private static long gcMillis() {
        long t = 0;
        for (var gc : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) {
            t += Math.max(0, gc.getCollectionTime());
        }
        return t;
    }

    /**
     * Which intended send times a latency run measures: from {@link #WARM_UP_SECONDS} after the open loop's first
     * send, for {@code seconds}. Taken from the loop's start, not from before the side's setup: the window used to
     * start 2 s after the side began building its consumer, so a side whose setup (group join, topic checks) took
     * longer had less of its warm-up left out, and its first, cold sends were measured (run 1 of the e2e fix:
     * the bus measured from 1.0 s after its first send, the raw side from 0.5 s, the SDK side from 1.9 s).
     */
    private static final class Window {
        final int seconds;
        volatile long warmUpEnd = Long.MAX_VALUE;
        volatile long end = Long.MAX_VALUE;

        Window(int seconds) {
            this.seconds = seconds;
        }

        void open(long start) {
            warmUpEnd = start + TimeUnit.SECONDS.toNanos(WARM_UP_SECONDS);
            end = warmUpEnd + TimeUnit.SECONDS.toNanos(seconds);
        }

        boolean measured(long at) {
            return at >= warmUpEnd && at < end;
        }
    }

    /** Sends record {@code i} whose intended send time is {@code at} (System.nanoTime). */
    private interface Send {
        void send(long i, long at);
    }

    private static void openLoop(double rate, Window w, Send send) {
        long start = System.nanoTime();
        loopStart = start;
        w.open(start);
        long total = (long) (rate * (w.seconds + WARM_UP_SECONDS));
        double interval = 1e9 / rate;
        for (long i = 0; i < total; i++) {
            long at = start + (long) (i * interval);
            long wait;
            while ((wait = at - System.nanoTime()) > 0) {
                if (wait > 50_000) {
                    LockSupport.parkNanos(wait - 20_000);
                }
            }
            send.send(i, at);
        }
    }

    private Thread consumerThread(KafkaConfig config, String topic, Histogram h, Window w) {
        Thread t = new Thread(() -> {
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(config.consumerProperties("raw-lat-" + UUID.randomUUID()))) {
                c.subscribe(List.of(topic));
                long lastSeen = 0;
                while (lastSeen < w.end) {
                    for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(50))) {
                        long now = System.nanoTime();
                        Header sent = r.headers().lastHeader(CloudEventsBinding.wireName(BenchEvent.SENT_HEADER));
                        long at = Long.parseLong(new String(sent.value(), StandardCharsets.UTF_8));
                        lastSeen = at;
                        if (w.measured(at)) {
                            recordLatency(h, at, now);
                        }
                    }
                    if (!c.assignment().isEmpty()) {
                        ready.add(Thread.currentThread());
                    }
                }
            }
        }, "raw-latency-consumer");
        t.setDaemon(true);
        t.start();
        return t;
    }

    private final Set<Thread> ready = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private void awaitAssigned(Thread consumer) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!ready.contains(consumer) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
    }

    /** Waits until the bus's consumer group on the stream's topic has members with partitions. */
    private void awaitGroup(KafkaConfig config, String group) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            org.apache.kafka.clients.admin.ConsumerGroupDescription d;
            try {
                d = admin.describeConsumerGroups(List.of(group)).all().get().get(group);
            } catch (java.util.concurrent.ExecutionException e) {
                // Brokers of Kafka 4 answer GROUP_ID_NOT_FOUND until the first member has joined.
                check(e.getCause() instanceof org.apache.kafka.common.errors.GroupIdNotFoundException, "describe " + group + ": " + e.getCause());
                Thread.sleep(50);
                continue;
            }
            boolean assigned = d.members().stream().anyMatch(m -> m.assignment().topicPartitions().stream()
                    .anyMatch(tp -> tp.topic().equals(config.topic(BenchEvent.STREAM))));
            // With retry topics the group has a second member (the retry topic's consumer) that may join after
            // the first was assigned; its join rebalances the whole group, so wait for both and a stable group,
            // or that rebalance lands in the measured window.
            int members = config.retryTopics() ? 2 : 1;
            if (assigned && d.members().size() >= members
                    && d.groupState() == org.apache.kafka.common.GroupState.STABLE) {
                return;
            }
            Thread.sleep(50);
        }
    }

    /** The bus side of the latency run: records the latency of each event from its intended send time. */
    public static final class LatencySubscriber {
        private final Histogram h;
        private final Window w;
        private final CountDownLatch finished;

        LatencySubscriber(Histogram h, Window w, CountDownLatch finished) {
            this.h = h;
            this.w = w;
            this.finished = finished;
        }

        @dev.eventbus.Subscribe(group = "latency")
        void on(dev.eventbus.Envelope<BenchEvent> e) {
            long now = System.nanoTime();
            long at = Long.parseLong(e.headers().get(BenchEvent.SENT_HEADER));
            if (w.measured(at)) {
                recordLatency(h, at, now);
            } else if (at >= w.end) {
                finished.countDown();
            }
        }
    }

    // ----------------------------------------------------------------------------------------------------- helpers

    /**
     * With {@code -DthreadCpu=true}: CPU time per record of this JVM's threads (by name, digits and ids stripped),
     * of the rest of this JVM (GC, JIT) and of the broker's process, over one consume run. On 2 shared cores a
     * consumer is bounded by its busiest thread and by the total, so both are shown.
     */
    private record CpuSnapshot(long process, long broker, Map<String, Long> threads) {
        static CpuSnapshot take() {
            if (!THREAD_CPU) {
                return null;
            }
            java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
            Map<String, Long> m = new java.util.TreeMap<>();
            for (java.lang.management.ThreadInfo ti : mx.getThreadInfo(mx.getAllThreadIds())) {
                if (ti != null) {
                    long t = mx.getThreadCpuTime(ti.getThreadId());
                    if (t > 0) {
                        String name = ti.getThreadName().replaceAll("bench-[a-z]+-[0-9a-f]{6}\\.", "")
                                .replaceAll("[0-9a-f]{8}-[0-9a-f-]{27}", "G").replaceAll("[0-9]+", "N");
                        m.merge(name, t, Long::sum);
                    }
                }
            }
            long process = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory
                    .getOperatingSystemMXBean()).getProcessCpuTime();
            ProcessHandle b = brokerProcess;
            long broker = b == null ? 0 : b.info().totalCpuDuration().map(Duration::toNanos).orElse(0L);
            return new CpuSnapshot(process, broker, m);
        }

        void print(String what, int n) {
            CpuSnapshot after = take();
            StringBuilder sb = new StringBuilder();
            long java = 0;
            for (Map.Entry<String, Long> e : after.threads.entrySet()) {
                long d = e.getValue() - threads.getOrDefault(e.getKey(), 0L);
                java += d;
                if (d > n * 50L) {
                    sb.append(String.format(Locale.ROOT, "%s=%.2f ", e.getKey(), d / 1e3 / n));
                }
            }
            lastThreadCpu = java / 1e3 / n;
            System.out.printf(Locale.ROOT, "    cpu us/record, %s: jvm %.2f (%sother=%.2f), broker %.2f%n", what,
                    (after.process - process) / 1e3 / n, sb, (after.process - process - java) / 1e3 / n,
                    (after.broker - broker) / 1e3 / n);
        }
    }

    /** Prints the CPU time since {@code before} (with {@code -DthreadCpu=true}) and returns a new snapshot. */
    private static CpuSnapshot printCpu(CpuSnapshot before, String what, int n) {
        if (before == null) {
            return null;
        }
        before.print(what, n);
        return CpuSnapshot.take();
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException(what);
        }
    }
}
