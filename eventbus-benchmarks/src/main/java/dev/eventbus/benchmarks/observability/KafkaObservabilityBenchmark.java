package dev.eventbus.benchmarks.observability;

import dev.eventbus.EventBus;
import dev.eventbus.PublishOptions;
import dev.eventbus.Registration;
import dev.eventbus.benchmarks.kafka.BenchEvent;
import dev.eventbus.benchmarks.kafka.BrokerProcess;
import dev.eventbus.kafka.KafkaConfig;
import dev.eventbus.kafka.KafkaTransport;
import dev.eventbus.micrometer.EventBusMetrics;
import dev.eventbus.opentelemetry.EventBusTracing;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.opentelemetry.api.trace.propagation.W3CTraceContextPropagator;
import io.opentelemetry.context.propagation.ContextPropagators;
import io.opentelemetry.sdk.OpenTelemetrySdk;
import io.opentelemetry.sdk.common.CompletableResultCode;
import io.opentelemetry.sdk.trace.SdkTracerProvider;
import io.opentelemetry.sdk.trace.data.SpanData;
import io.opentelemetry.sdk.trace.export.BatchSpanProcessor;
import io.opentelemetry.sdk.trace.export.SpanExporter;
import io.opentelemetry.sdk.trace.samplers.Sampler;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Kafka publish and consume throughput of a bus with Micrometer metrics and OpenTelemetry tracing bound ("observed")
 * against the same bus unbound ("plain"), same run, same broker, same topic settings, alternated (plain first in odd
 * rounds, observed first in even ones), after a warm-up of both (issue 13, target observed / plain >= 0.85).
 *
 * <p>Observed means: {@link EventBusMetrics} bound to a {@link SimpleMeterRegistry}, and {@link EventBusTracing} over
 * an OpenTelemetry SDK whose sampler records every span ({@code alwaysOn}), exported through a
 * {@link BatchSpanProcessor} to an exporter that counts and drops them (the cost of building, recording and queueing
 * spans is ours; the network is not). The batch queue is sized so that no span is dropped; the spans exported are
 * checked against the publishes and handlings made.
 *
 * <p>Besides throughput (wall clock, noisy on this shared machine), each run reports this JVM's CPU time per event
 * (the broker runs in another JVM), the steadier measure of what observing costs.
 *
 * <p>The broker runs in a child JVM ({@code TestKafkaBroker} from the Kafka module's test-jar, as in
 * {@code KafkaBenchmarks}) unless {@code EVENTBUS_TEST_KAFKA_BOOTSTRAP} names one. System properties: {@code rounds}
 * (3), {@code publish} (1000000 events of 100 B), {@code consume} (1000000 events of 100 B: fewer leave the first rounds JIT-cold), {@code only}
 * (publish,consume); to tell the parts' costs apart, {@code observe} ({@code both}, {@code metrics},
 * {@code tracing}, {@code none}) and {@code sampler} ({@code on}, {@code off}, or a ratio such as {@code 0.1}); {@code kafka.<client key>}
 * to try a client setting on both sides ({@code -Dkafka.compression.type=none}).
 *
 * <p>Run: {@code java -cp eventbus-benchmarks/target/benchmarks.jar
 * dev.eventbus.benchmarks.observability.KafkaObservabilityBenchmark}.
 */
public final class KafkaObservabilityBenchmark {

    private static final int PARTITIONS = 6;
    private static final int KEYS = 1000;
    private static final int BYTES = 100;
    private static final double TARGET = 0.85;

    private final String bootstrap;
    private final int rounds = Integer.getInteger("rounds", 3);
    private final List<String> only = List.of(System.getProperty("only", "publish,consume").split(","));
    /**
     * What "observed" binds, to tell the parts' costs apart: {@code both} (the figure), {@code metrics},
     * {@code tracing}, or {@code none} (an A/A run: the harness's own bias between two like buses).
     */
    private final String observe = System.getProperty("observe", "both");
    /** The SDK's sampler: {@code on} (the figure: every span recorded and exported), {@code off}, or a ratio. */
    private final String sampler = System.getProperty("sampler", "on");
    private final CountingExporter exporter = new CountingExporter();
    private final OpenTelemetrySdk otel;
    private final EventBusTracing tracing;
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final List<String> report = new ArrayList<>();
    /** Spans the observed buses must have produced so far: one per publish, one per handling. */
    private long expectedSpans;
    /**
     * Spans ended but not yet exported at the end of the last observed run: whether the batch processor kept up
     * (spans waiting in its queue live long enough to be copied by the collector, or promoted).
     */
    private long backlog;
    /** The thread split of the last {@link #busConsume} run. */
    private double[] lastSplit;

    private KafkaObservabilityBenchmark(String bootstrap) {
        this.bootstrap = bootstrap;
        this.otel = sdk(sampler(), exporter);
        this.tracing = EventBusTracing.create(otel);
    }

    /**
     * The harness's SDK, shared with {@link KafkaOtelInstrumentationAnchor} so both measure the same setup: W3C
     * propagation, the given sampler, a batch processor whose queue never drops at these rates, exporting to
     * {@code exporter}.
     */
    static OpenTelemetrySdk sdk(Sampler sampler, SpanExporter exporter) {
        return OpenTelemetrySdk.builder()
                .setTracerProvider(SdkTracerProvider.builder().setSampler(sampler)
                        .addSpanProcessor(BatchSpanProcessor.builder(exporter).setMaxQueueSize(1 << 20)
                                .setMaxExportBatchSize(2048).setScheduleDelay(Duration.ofMillis(200)).build())
                        .build())
                .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance()))
                .build();
    }

    public static void main(String[] args) throws Exception {
        boolean met = BrokerProcess.withBroker(bootstrap -> {
            KafkaObservabilityBenchmark b = new KafkaObservabilityBenchmark(bootstrap);
            try {
                return b.run();
            } finally {
                b.otel.close();
            }
        });
        System.exit(met ? 0 : 1);
    }

    private boolean run() throws Exception {
        System.out.printf("Kafka, observed (%s, sampler %s, batch export) vs plain, %s, %d cores, Java %s, load "
                        + "average %.2f%n", observe, sampler, LocalDateTime.now(),
                Runtime.getRuntime().availableProcessors(), System.getProperty("java.version"), load());
        boolean met = true;
        if (only.contains("publish")) {
            met &= publish(Integer.getInteger("publish", 1_000_000));
        }
        if (only.contains("consume")) {
            met &= consume(Integer.getInteger("consume", 1_000_000));
        }
        System.out.printf("%nSummary (load average at the end %.2f)%n", load());
        report.forEach(System.out::println);
        return met;
    }

    // ----------------------------------------------------------------------------------------------------- publish

    private boolean publish(int n) throws Exception {
        System.out.printf("%nPublish, %d events of %d B, %d partitions, keyed, waiting for every acknowledgement%n", n,
                BYTES, PARTITIONS);
        KafkaConfig config = config(prefix("pub"));
        List<BenchEvent> events = events(n);
        PublishOptions[] keys = keyed(events);
        double[] plain = new double[rounds];
        double[] observed = new double[rounds];
        double[] plainCpu = new double[rounds];
        double[] observedCpu = new double[rounds];
        try (EventBus p = plain(config); EventBus o = observed(config)) {
            // Warm-up of both (topic creation, JIT, the broker's first runs), then alternated rounds.
            busPublish(p, events, keys);
            busPublish(o, events, keys);
            expectedSpans += n;
            for (int r = 0; r < rounds; r++) {
                double[][] split = new double[2][];
                for (boolean obs : r % 2 == 0 ? new boolean[] {false, true} : new boolean[] {true, false}) {
                    Map<String, long[]> threads0 = ThreadCpu.snapshot();
                    long cpu0 = cpuNanos();
                    double rate = busPublish(obs ? o : p, events, keys);
                    double cpu = (cpuNanos() - cpu0) / (double) n;
                    split[obs ? 1 : 0] = ThreadCpu.perEvent(threads0, ThreadCpu.snapshot(), n);
                    (obs ? observed : plain)[r] = rate;
                    (obs ? observedCpu : plainCpu)[r] = cpu;
                    if (obs) {
                        expectedSpans += n;
                        backlog = expectedSpans - exporter.spans.get();
                    }
                }
                System.out.printf(Locale.ROOT, "  round %d: plain %,.0f ev/s (%,.0f ns CPU/event), observed %,.0f ev/s "
                                + "(%,.0f ns CPU/event): %.2fx throughput, %.2fx CPU; load %.2f%n", r + 1, plain[r],
                        plainCpu[r], observed[r], observedCpu[r], observed[r] / plain[r], observedCpu[r] / plainCpu[r],
                        load());
                printSplit(split);
                printBatching();
            }
            if (!checked()) {
                return summarize("publish", plain, observed, plainCpu, observedCpu);
            }
            awaitSpans("publish");
            Timer sent = registry.find(EventBusMetrics.PUBLISH_DURATION).tag("messaging.system", "kafka").timer();
            check(sent != null && sent.count() == (long) (rounds + 1) * n,
                    "the publish timer counted " + (sent == null ? 0 : sent.count()) + " sends, expected "
                            + (long) (rounds + 1) * n);
        }
        return summarize("publish", plain, observed, plainCpu, observedCpu);
    }

    private static double busPublish(EventBus bus, List<BenchEvent> events, PublishOptions[] keys)
            throws InterruptedException {
        CountDownLatch done = new CountDownLatch(events.size());
        AtomicLong failed = new AtomicLong();
        long t0 = System.nanoTime();
        for (int i = 0; i < keys.length; i++) {
            bus.publish(events.get(i), keys[i]).whenComplete((v, e) -> {
                if (e != null) {
                    failed.incrementAndGet();
                }
                done.countDown();
            });
        }
        done.await();
        long t1 = System.nanoTime();
        check(failed.get() == 0, "publishes failed: " + failed.get());
        return events.size() * 1e9 / (t1 - t0);
    }

    // ----------------------------------------------------------------------------------------------------- consume

    private boolean consume(int n) throws Exception {
        System.out.printf("%nConsume, %d events of %d B, %d partitions, a fresh group per run, rate from the first to "
                + "the last handling%n", n, BYTES, PARTITIONS);
        KafkaConfig config = config(prefix("con"));
        // Filled by an observed bus, so that every record carries a traceparent: the consumer spans are children
        // (extraction, parent, link) as in an instrumented system. Both sides read the same records.
        try (EventBus filler = observed(config)) {
            int chunk = 100_000;
            for (int from = 0; from < n; from += chunk) {
                List<BenchEvent> events = events(from, Math.min(n, from + chunk));
                busPublish(filler, events, keyed(events));
            }
        }
        expectedSpans += n;
        printHeaders(config);
        double[] plain = new double[rounds];
        double[] observed = new double[rounds];
        double[] plainCpu = new double[rounds];
        double[] observedCpu = new double[rounds];
        busConsume(config, n, false);
        busConsume(config, n, true);
        for (int r = 0; r < rounds; r++) {
            double[][] split = new double[2][];
            for (boolean obs : r % 2 == 0 ? new boolean[] {false, true} : new boolean[] {true, false}) {
                double[] rc = busConsume(config, n, obs);
                (obs ? observed : plain)[r] = rc[0];
                (obs ? observedCpu : plainCpu)[r] = rc[1];
                split[obs ? 1 : 0] = lastSplit;
            }
            System.out.printf(Locale.ROOT, "  round %d: plain %,.0f ev/s (%,.0f ns CPU/event), observed %,.0f ev/s "
                            + "(%,.0f ns CPU/event): %.2fx throughput, %.2fx CPU; load %.2f%n", r + 1, plain[r],
                    plainCpu[r], observed[r], observedCpu[r], observed[r] / plain[r], observedCpu[r] / plainCpu[r],
                    load());
            printSplit(split);
        }
        if (checked()) {
            awaitSpans("consume");
        }
        return summarize("consume", plain, observed, plainCpu, observedCpu);
    }

    /** Rate (events/s, first to last handling) and this JVM's CPU ns per event, for one fresh group. */
    private double[] busConsume(KafkaConfig config, int n, boolean observed) throws InterruptedException {
        AtomicLong first = new AtomicLong();
        AtomicLong last = new AtomicLong();
        AtomicLong count = new AtomicLong();
        CountDownLatch done = new CountDownLatch(1);
        Map<String, long[]> threads0 = ThreadCpu.snapshot();
        long cpu0 = cpuNanos();
        if (observed) {
            expectedSpans += n;
        }
        try (EventBus bus = observed ? observed(config) : plain(config);
             Registration ignored = bus.subscribe(BenchEvent.class, "g-" + UUID.randomUUID(), e -> {
                 if (count.get() == 0) {
                     first.compareAndSet(0, System.nanoTime());
                 }
                 if (count.incrementAndGet() == n) {
                     last.set(System.nanoTime());
                     done.countDown();
                 }
             })) {
            check(done.await(300, TimeUnit.SECONDS), "consumer stalled at " + count.get() + " of " + n);
            if (observed) {
                backlog = expectedSpans - exporter.spans.get();
            }
            double cpu = (cpuNanos() - cpu0) / (double) n; // before close: includes the group join, both sides alike
            lastSplit = ThreadCpu.perEvent(threads0, ThreadCpu.snapshot(), n);
            return new double[] {n * 1e9 / (last.get() - first.get()), cpu};
        }
    }

    // ----------------------------------------------------------------------------------------------------- helpers

    private EventBus plain(KafkaConfig config) {
        return EventBus.builder().service("bench").transport(KafkaTransport.create(config)).build();
    }

    /** Tracing's interceptors and observer, then the metrics' binder: what an application would do. */
    private EventBus observed(KafkaConfig config) {
        EventBus.Builder b = EventBus.builder().service("bench").transport(KafkaTransport.create(config));
        if (observe.equals("none")) {
            return b.build(); // an A/A run: what the harness alone makes of two like buses
        }
        EventBus bus = observe.equals("metrics") ? b.build() : tracing.build(b);
        if (!observe.equals("tracing")) {
            EventBusMetrics.bind(bus, registry);
        }
        return bus;
    }

    private Sampler sampler() {
        return switch (sampler) {
            case "on" -> Sampler.alwaysOn();
            case "off" -> Sampler.alwaysOff();
            default -> Sampler.traceIdRatioBased(Double.parseDouble(sampler));
        };
    }

    /** The span and timer checks hold for the figure's setting only (every span recorded, metrics bound). */
    private boolean checked() {
        return observe.equals("both") && sampler.equals("on");
    }

    private KafkaConfig config(String prefix) {
        KafkaConfig.Builder b = KafkaConfig.builder().serviceName("bench").bootstrapServers(bootstrap)
                .set(KafkaConfig.TOPIC_PREFIX, prefix)
                .set(KafkaConfig.PARTITIONS, PARTITIONS)
                .set("consumer.max.poll.records", "2000");
        // -Dkafka.<client key>=<value> tries a client setting on both sides (e.g. -Dkafka.compression.type=none).
        for (String name : System.getProperties().stringPropertyNames()) {
            if (name.startsWith("kafka.")) {
                b.set(name.substring("kafka.".length()), System.getProperty(name));
            }
        }
        return b.build();
    }

    private static String prefix(String what) {
        return "obs-" + what + "-" + UUID.randomUUID().toString().substring(0, 6) + ".";
    }

    private static List<BenchEvent> events(int n) {
        return events(0, n);
    }

    private static List<BenchEvent> events(int from, int to) {
        List<BenchEvent> out = new ArrayList<>(to - from);
        for (int i = from; i < to; i++) {
            out.add(BenchEvent.ofSize("o-" + (i % KEYS), i, BYTES));
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

    /** Every span reached the exporter, exactly: none was dropped by a full queue, none is missing. */
    private void awaitSpans(String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (exporter.spans.get() < expectedSpans && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        Thread.sleep(500); // and no more than that
        check(exporter.spans.get() == expectedSpans, what + ": " + exporter.spans.get() + " spans exported, expected "
                + expectedSpans);
    }

    private boolean summarize(String what, double[] plain, double[] observed, double[] plainCpu,
                              double[] observedCpu) {
        double[] ratios = new double[rounds];
        double[] cpuRatios = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            ratios[r] = observed[r] / plain[r];
            cpuRatios[r] = observedCpu[r] / plainCpu[r];
        }
        double ratio = median(ratios);
        boolean met = ratio >= TARGET;
        report.add(String.format(Locale.ROOT, "%-8s plain %,9.0f ev/s  observed %,9.0f ev/s  ratio %.2f (rounds %s) "
                        + "target >= %.2f: %s;  CPU/event plain %,.0f ns observed %,.0f ns = %.2fx (rounds %s)", what,
                median(plain), median(observed), ratio, fmt(ratios), TARGET, met ? "met" : "MISSED", median(plainCpu),
                median(observedCpu), median(cpuRatios), fmt(cpuRatios)));
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

    /** Where each side's CPU went, per event, by kind of thread (GC and JIT included: no sample shows them). */
    private void printSplit(double[][] split) {
        System.out.printf("    CPU ns/event by thread: plain %s; observed %s%s%n", ThreadCpu.format(split[0]),
                ThreadCpu.format(split[1]), checked() ? String.format(Locale.ROOT, "; spans not yet exported when the "
                        + "observed run ended: %,d", backlog) : "");
    }

    /** The headers of one traced record as Kafka holds them: what tracing adds to every record on the wire. */
    private void printHeaders(KafkaConfig config) {
        java.util.Properties p = new java.util.Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", "headers-" + UUID.randomUUID());
        p.put("auto.offset.reset", "earliest");
        p.put("max.poll.records", "1");
        p.put("key.deserializer", org.apache.kafka.common.serialization.ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", org.apache.kafka.common.serialization.ByteArrayDeserializer.class.getName());
        try (org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]> c =
                     new org.apache.kafka.clients.consumer.KafkaConsumer<>(p)) {
            c.subscribe(List.of(config.topic(BenchEvent.STREAM)));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (System.nanoTime() < deadline) {
                for (org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
                    StringBuilder h = new StringBuilder();
                    int bytes = 0;
                    for (org.apache.kafka.common.header.Header x : r.headers()) {
                        h.append(h.length() == 0 ? "" : ", ").append(x.key()).append(" (")
                                .append(x.value() == null ? 0 : x.value().length).append(" B)");
                        bytes += x.key().length() + (x.value() == null ? 0 : x.value().length);
                    }
                    System.out.printf("  a traced record: key %d B, value %d B, %d headers of %d B in all: %s%n",
                            r.serializedKeySize(), r.serializedValueSize(), r.headers().toArray().length, bytes, h);
                    return;
                }
            }
            System.out.println("  (no record read back to show its headers)");
        }
    }

    /** Each producer's batching so far (its JMX metrics): whether a slower caller made smaller batches. */
    private static void printBatching() {
        try {
            javax.management.MBeanServer server = ManagementFactory.getPlatformMBeanServer();
            for (javax.management.ObjectName name : server.queryNames(
                    new javax.management.ObjectName("kafka.producer:type=producer-metrics,*"), null)) {
                System.out.printf(Locale.ROOT, "    producer %s: records per request %.1f, batch size %.0f B, "
                                + "requests %.0f%n", name.getKeyProperty("client-id"),
                        (Double) server.getAttribute(name, "records-per-request-avg"),
                        (Double) server.getAttribute(name, "batch-size-avg"),
                        (Double) server.getAttribute(name, "request-total"));
            }
        } catch (Exception e) {
            System.out.println("    (producer metrics unavailable: " + e + ")");
        }
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

    /** Counts and drops: the cost measured is recording and queueing spans, not shipping them. */
    private static final class CountingExporter implements SpanExporter {
        final AtomicLong spans = new AtomicLong();

        @Override
        public CompletableResultCode export(Collection<SpanData> batch) {
            spans.addAndGet(batch.size());
            return CompletableResultCode.ofSuccess();
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
