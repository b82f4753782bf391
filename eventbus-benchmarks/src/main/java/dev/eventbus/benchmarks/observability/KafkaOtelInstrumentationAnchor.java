package dev.eventbus.benchmarks.observability;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.eventbus.benchmarks.kafka.BenchEvent;
import dev.eventbus.benchmarks.kafka.BrokerProcess;
import dev.eventbus.kafka.KafkaConfig;
import io.opentelemetry.instrumentation.kafkaclients.v2_6.KafkaTelemetry;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.opentelemetry.sdk.trace.samplers.Sampler;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The peer anchor for issue 13's tracing-cost target: what OpenTelemetry's own Kafka library instrumentation
 * ({@code opentelemetry-kafka-clients-2.6}, {@link KafkaTelemetry#wrap}) costs a raw {@link KafkaProducer} and
 * {@link KafkaConsumer}, under the SDK setup {@link KafkaObservabilityBenchmark} gives our tracing: a sampler that
 * records every span ({@code alwaysOn}), a {@link BatchSpanProcessor} with the same queue, batch and delay, an exporter
 * that counts (by span name) and drops.
 *
 * <p>Both sides ("plain": the raw client; "instrumented": the same client wrapped) use the bus's Kafka transport's
 * effective client settings ({@link KafkaConfig#producerProperties()}: {@code acks=all}, idempotence, lz4,
 * {@code linger.ms=5}, {@code batch.size=65536}; {@link KafkaConfig#consumerProperties}: {@code read_committed},
 * cooperative-sticky, {@code max.poll.records=2000} as the harness sets it), a topic of 6 partitions, records keyed
 * by one of 1,000 order ids with a 100 B JSON value (the harness's {@link BenchEvent}, serialized once before the
 * runs: the raw client is handed bytes). Publish waits for every acknowledgement; consume reads with a fresh group
 * per run, rate from the first to the last record, committing asynchronously after each non-empty poll. The topic
 * consumed is filled by the instrumented producer, so every record carries a {@code traceparent}, as in the harness.
 * Each run also reports this JVM's CPU per event (the broker runs in another JVM), split by thread.
 *
 * <p>Rounds alternate the order (plain first in odd rounds), after a warm-up of both. The spans exported are checked
 * against the sends and records read, and printed by name.
 *
 * <p>Single-threaded; run from {@link #main} only. System properties: {@code rounds} (5), {@code publish} and
 * {@code consume} (1000000 each), {@code only} (publish,consume), {@code instrument} ({@code otel}, or {@code none}
 * for an A/A run of two raw clients).
 *
 * <p>Run: {@code java -cp eventbus-benchmarks/target/benchmarks.jar
 * dev.eventbus.benchmarks.observability.KafkaOtelInstrumentationAnchor}.
 */
public final class KafkaOtelInstrumentationAnchor {

    private static final int PARTITIONS = 6;
    private static final int KEYS = 1000;
    private static final int BYTES = 100;
    private static final double TARGET = 0.85;

    private final String bootstrap;
    private final int rounds = Integer.getInteger("rounds", 5);
    private final List<String> only = List.of(System.getProperty("only", "publish,consume").split(","));
    /**
     * {@code otel} (the figure: the second client wrapped) or {@code none}: an A/A run of two like raw clients, the
     * harness's own bias between first and second client (no span checks then).
     */
    private final boolean wrap = !System.getProperty("instrument", "otel").equals("none");
    private final CountingExporter exporter = new CountingExporter();
    private final OpenTelemetrySdk otel;
    private final KafkaTelemetry telemetry;
    private final List<String> report = new ArrayList<>();
    /** The thread split of the last {@link #consumeOnce} run. */
    private double[] lastSplit;

    private KafkaOtelInstrumentationAnchor(String bootstrap) {
        this.bootstrap = bootstrap;
        // The harness's SDK, as KafkaObservabilityBenchmark builds it with its default sampler (on).
        this.otel = KafkaObservabilityBenchmark.sdk(Sampler.alwaysOn(), exporter);
        // The library's defaults: propagation on, receive telemetry off (process spans only), no experimental
        // attributes, no captured headers.
        this.telemetry = KafkaTelemetry.create(otel);
    }

    /**
     * Starts a broker in a child JVM (unless {@code EVENTBUS_TEST_KAFKA_BOOTSTRAP} names one), runs the rounds and
     * exits 0 when both medians reach 0.85x, 1 otherwise.
     *
     * @throws Exception when the broker, a send, a read or a span check fails
     */
    public static void main(String[] args) throws Exception {
        boolean met = BrokerProcess.withBroker(bootstrap -> {
            KafkaOtelInstrumentationAnchor a = new KafkaOtelInstrumentationAnchor(bootstrap);
            try {
                return a.run();
            } finally {
                a.otel.close();
            }
        });
        System.exit(met ? 0 : 1);
    }

    private boolean run() throws Exception {
        System.out.printf("Kafka raw client, OpenTelemetry kafka-clients-2.6 instrumentation (sampler on, batch "
                        + "export) vs plain%s, %s UTC, %d cores, Java %s, load average %.2f%n",
                wrap ? "" : " (A/A: -Dinstrument=none, the second client NOT wrapped)", Instant.now(),
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), load());
        boolean met = true;
        if (only.contains("publish")) {
            met &= publish(Integer.getInteger("publish", 1_000_000));
        }
        if (only.contains("consume")) {
            met &= consume(Integer.getInteger("consume", 1_000_000));
        }
        System.out.printf("%nSpans exported, by name and kind: %s%n", exporter.byName());
        System.out.printf("What one span of each carries: %s%n", exporter.attributes());
        System.out.printf("%nSummary (load average at the end %.2f, %s UTC)%n", load(), Instant.now());
        report.forEach(System.out::println);
        return met;
    }

    // ----------------------------------------------------------------------------------------------------- publish

    private boolean publish(int n) throws Exception {
        System.out.printf("%nPublish, %d records of %d B, %d partitions, keyed, waiting for every acknowledgement%n",
                n, BYTES, PARTITIONS);
        KafkaConfig config = config(prefix("pub"));
        String topic = createTopic(config);
        Records recs = records(0, n);
        double[] plain = new double[rounds];
        double[] instr = new double[rounds];
        double[] plainCpu = new double[rounds];
        double[] instrCpu = new double[rounds];
        long sends0 = exporter.producerSpans();
        try (Producer<String, byte[]> p = new KafkaProducer<>(producerProps(config, "anchor-plain"));
             Producer<String, byte[]> o = wrap(
                     new KafkaProducer<String, byte[]>(producerProps(config, "anchor-otel")))) {
            send(p, topic, recs);
            send(o, topic, recs);
            for (int r = 0; r < rounds; r++) {
                double[][] split = new double[2][];
                for (boolean ins : r % 2 == 0 ? new boolean[] {false, true} : new boolean[] {true, false}) {
                    Map<String, long[]> threads0 = ThreadCpu.snapshot();
                    long cpu0 = cpuNanos();
                    double rate = send(ins ? o : p, topic, recs);
                    double cpu = (cpuNanos() - cpu0) / (double) n;
                    split[ins ? 1 : 0] = ThreadCpu.perEvent(threads0, ThreadCpu.snapshot(), n);
                    (ins ? instr : plain)[r] = rate;
                    (ins ? instrCpu : plainCpu)[r] = cpu;
                }
                printRound(r, plain, instr, plainCpu, instrCpu, split);
            }
        }
        long expected = (long) (rounds + 1) * n;
        if (wrap) {
            awaitSpans(() -> exporter.producerSpans() - sends0, expected, "publish (producer spans)");
        }
        return summarize("publish", plain, instr, plainCpu, instrCpu);
    }

    private static double send(Producer<String, byte[]> producer, String topic, Records recs)
            throws InterruptedException {
        CountDownLatch done = new CountDownLatch(recs.keys.length);
        AtomicLong failed = new AtomicLong();
        long t0 = System.nanoTime();
        for (int i = 0; i < recs.keys.length; i++) {
            producer.send(new ProducerRecord<>(topic, recs.keys[i], recs.values[i]), (md, e) -> {
                if (e != null) {
                    failed.incrementAndGet();
                }
                done.countDown();
            });
        }
        done.await();
        long t1 = System.nanoTime();
        check(failed.get() == 0, "sends failed: " + failed.get());
        return recs.keys.length * 1e9 / (t1 - t0);
    }

    // ----------------------------------------------------------------------------------------------------- consume

    private boolean consume(int n) throws Exception {
        System.out.printf("%nConsume, %d records of %d B, %d partitions, a fresh group per run, rate from the first to "
                + "the last record%n", n, BYTES, PARTITIONS);
        KafkaConfig config = config(prefix("con"));
        String topic = createTopic(config);
        // Filled by the instrumented producer: every record carries a traceparent, the process spans are children.
        try (Producer<String, byte[]> filler = telemetry.wrap(
                new KafkaProducer<String, byte[]>(producerProps(config, "anchor-fill")))) {
            int chunk = 100_000;
            for (int from = 0; from < n; from += chunk) {
                send(filler, topic, records(from, Math.min(n, from + chunk)));
            }
        }
        double[] plain = new double[rounds];
        double[] instr = new double[rounds];
        double[] plainCpu = new double[rounds];
        double[] instrCpu = new double[rounds];
        long process0 = exporter.consumerSpans();
        consumeOnce(config, topic, n, false);
        consumeOnce(config, topic, n, true);
        for (int r = 0; r < rounds; r++) {
            double[][] split = new double[2][];
            for (boolean ins : r % 2 == 0 ? new boolean[] {false, true} : new boolean[] {true, false}) {
                double[] rc = consumeOnce(config, topic, n, ins);
                (ins ? instr : plain)[r] = rc[0];
                (ins ? instrCpu : plainCpu)[r] = rc[1];
                split[ins ? 1 : 0] = lastSplit;
            }
            printRound(r, plain, instr, plainCpu, instrCpu, split);
        }
        if (wrap) {
            awaitSpans(() -> exporter.consumerSpans() - process0, (long) (rounds + 1) * n, "consume (consumer spans)");
        }
        return summarize("consume", plain, instr, plainCpu, instrCpu);
    }

    /** Rate (records/s, first to last record) and this JVM's CPU ns per record, for one fresh group. */
    private double[] consumeOnce(KafkaConfig config, String topic, int n, boolean instrumented) {
        Map<String, long[]> threads0 = ThreadCpu.snapshot();
        long cpu0 = cpuNanos();
        KafkaConsumer<String, byte[]> raw = new KafkaConsumer<>(consumerProps(config, "g-" + UUID.randomUUID()));
        try (Consumer<String, byte[]> c = instrumented && wrap ? telemetry.wrap(raw) : raw) {
            c.subscribe(List.of(topic));
            long count = 0;
            long t0 = 0;
            long checksum = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(300);
            while (count < n) {
                ConsumerRecords<String, byte[]> recs = c.poll(Duration.ofMillis(100));
                if (!recs.isEmpty() && t0 == 0) {
                    t0 = System.nanoTime();
                }
                // Iterating is what makes the instrumentation's process span of each record (ended at the next).
                for (ConsumerRecord<String, byte[]> r : recs) {
                    checksum += r.value().length + r.key().length();
                    count++;
                }
                if (!recs.isEmpty()) {
                    c.commitAsync();
                }
                check(System.nanoTime() < deadline, "consumer stalled at " + count + " of " + n);
            }
            long t1 = System.nanoTime();
            check(checksum != 0 && count == n, "read " + count + " of " + n);
            double cpu = (cpuNanos() - cpu0) / (double) n; // before close: includes the group join, both sides alike
            lastSplit = ThreadCpu.perEvent(threads0, ThreadCpu.snapshot(), n);
            return new double[] {n * 1e9 / (t1 - t0), cpu};
        }
    }

    // ----------------------------------------------------------------------------------------------------- helpers

    /** The "instrumented" side's producer: wrapped, or left raw in an A/A run. */
    private Producer<String, byte[]> wrap(Producer<String, byte[]> p) {
        return wrap ? telemetry.wrap(p) : p;
    }

    /** The harness's config (6 partitions, 2,000 records per poll); its client settings are the bus's. */
    private KafkaConfig config(String prefix) {
        return KafkaConfig.builder().serviceName("bench").bootstrapServers(bootstrap)
                .set(KafkaConfig.TOPIC_PREFIX, prefix)
                .set(KafkaConfig.PARTITIONS, PARTITIONS)
                .set("consumer.max.poll.records", "2000")
                .build();
    }

    private static Map<String, Object> producerProps(KafkaConfig config, String clientId) {
        Map<String, Object> p = new HashMap<>(config.producerProperties());
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return p;
    }

    private static Map<String, Object> consumerProps(KafkaConfig config, String group) {
        Map<String, Object> p = new HashMap<>(config.consumerProperties(group));
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        return p;
    }

    /** The topic the bus would create for {@link BenchEvent}'s stream: 6 partitions, the config's replication. */
    private static String createTopic(KafkaConfig config) throws Exception {
        String topic = config.topic(BenchEvent.STREAM);
        try (Admin admin = Admin.create(config.adminProperties())) {
            admin.createTopics(List.of(new NewTopic(topic, Optional.of(PARTITIONS),
                    Optional.of(config.replicationFactor())))).all().get(60, TimeUnit.SECONDS);
        }
        return topic;
    }

    private static String prefix(String what) {
        return "otel-" + what + "-" + UUID.randomUUID().toString().substring(0, 6) + ".";
    }

    /** Keys and 100 B JSON values of the harness's events, serialized once: the raw client is handed bytes. */
    private static Records records(int from, int to) throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        String[] keys = new String[to - from];
        byte[][] values = new byte[to - from][];
        for (int i = from; i < to; i++) {
            BenchEvent e = BenchEvent.ofSize("o-" + (i % KEYS), i, BYTES);
            keys[i - from] = e.orderId();
            values[i - from] = mapper.writeValueAsBytes(e);
        }
        return new Records(keys, values);
    }

    private record Records(String[] keys, byte[][] values) {
    }

    private void printRound(int r, double[] plain, double[] instr, double[] plainCpu, double[] instrCpu,
                            double[][] split) {
        System.out.printf(Locale.ROOT, "  round %d: plain %,.0f ev/s (%,.0f ns CPU/event), instrumented %,.0f ev/s "
                        + "(%,.0f ns CPU/event): %.2fx throughput, %.2fx CPU (+%,.0f ns/event); load %.2f; %s UTC%n",
                r + 1, plain[r], plainCpu[r], instr[r], instrCpu[r], instr[r] / plain[r], instrCpu[r] / plainCpu[r],
                instrCpu[r] - plainCpu[r], load(), Instant.now());
        System.out.printf("    CPU ns/event by thread: plain %s; instrumented %s%n", ThreadCpu.format(split[0]),
                ThreadCpu.format(split[1]));
    }

    private interface Count {
        long get();
    }

    /** Every span reached the exporter, exactly: none was dropped by a full queue, none is missing. */
    private static void awaitSpans(Count count, long expected, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (count.get() < expected && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        Thread.sleep(500); // and no more than that
        check(count.get() == expected, what + ": " + count.get() + " spans exported, expected " + expected);
        System.out.printf("  spans checked: %s: %,d exported, as expected%n", what, count.get());
    }

    private boolean summarize(String what, double[] plain, double[] instr, double[] plainCpu, double[] instrCpu) {
        double[] ratios = new double[rounds];
        double[] cpuRatios = new double[rounds];
        double[] added = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            ratios[r] = instr[r] / plain[r];
            cpuRatios[r] = instrCpu[r] / plainCpu[r];
            added[r] = instrCpu[r] - plainCpu[r];
        }
        double ratio = median(ratios);
        boolean met = ratio >= TARGET;
        report.add(String.format(Locale.ROOT, "%-8s plain %,9.0f ev/s  instrumented %,9.0f ev/s  ratio %.2f "
                        + "(rounds %s) vs issue 13's >= %.2f: %s;  CPU/event plain %,.0f ns instrumented %,.0f ns "
                        + "= %.2fx (rounds "
                        + "%s), added %,.0f ns/event", what, median(plain), median(instr), ratio, fmt(ratios), TARGET,
                met ? "reached" : "below", median(plainCpu), median(instrCpu), median(cpuRatios), fmt(cpuRatios),
                median(added)));
        return met;
    }

    private static String fmt(double[] v) {
        StringBuilder s = new StringBuilder();
        for (double d : v) {
            s.append(s.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.2f", d));
        }
        return s.toString();
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    private static double load() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException(what);
        }
    }

    /** Counts by span name and kind, and drops: the cost measured is recording and queueing spans. */
    private static final class CountingExporter implements SpanExporter {
        private final Map<String, LongAdder> byName = new ConcurrentHashMap<>();
        /** One span's attribute keys per name and kind: what each span carries. */
        private final Map<String, String> attributes = new ConcurrentHashMap<>();
        private final LongAdder producer = new LongAdder();
        private final LongAdder consumer = new LongAdder();

        @Override
        public CompletableResultCode export(Collection<SpanData> batch) {
            for (SpanData s : batch) {
                String name = s.getName() + " (" + s.getKind() + ")";
                byName.computeIfAbsent(name, k -> new LongAdder()).increment();
                // Keyed by the raw name, folded only when printed: a regex per span would be the harness's cost.
                attributes.computeIfAbsent(name, k -> s.getAttributes().size() + " attributes "
                        + s.getAttributes().asMap().keySet().stream().map(a -> a.getKey()).sorted().toList()
                        + ", parent " + (s.getParentSpanContext().isValid() ? "yes" : "no")
                        + ", links " + s.getLinks().size());
                switch (s.getKind()) {
                    case PRODUCER -> producer.increment();
                    case CONSUMER -> consumer.increment();
                    default -> { }
                }
            }
            return CompletableResultCode.ofSuccess();
        }

        long producerSpans() {
            return producer.sum();
        }

        long consumerSpans() {
            return consumer.sum();
        }

        /** Names with the topic's random prefix folded, so that runs read alike. */
        String byName() {
            Map<String, Long> out = new TreeMap<>();
            byName.forEach((k, v) -> out.merge(fold(k), v.sum(), Long::sum));
            StringBuilder s = new StringBuilder();
            out.forEach((k, v) -> s.append(s.length() == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%s %,d",
                    k, v)));
            return s.toString();
        }

        /** One span of each name: its attribute keys, whether it has a parent, its links. */
        String attributes() {
            Map<String, String> out = new TreeMap<>();
            attributes.forEach((k, v) -> out.put(fold(k), v));
            return out.toString();
        }

        private static String fold(String name) {
            return name.replaceAll("otel-(pub|con)-[0-9a-f]{6}\\.", "<prefix>.");
        }

        @Override
        public CompletableResultCode flush() {
            return CompletableResultCode.ofSuccess();
        }

        @Override
        public CompletableResultCode shutdown() {
            return CompletableResultCode.ofSuccess();
        }
    }
}
