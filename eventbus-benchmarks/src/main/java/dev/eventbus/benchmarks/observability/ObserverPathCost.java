package dev.eventbus.benchmarks.observability;

import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.Registration;
import dev.eventbus.micrometer.EventBusMetrics;
import dev.eventbus.opentelemetry.EventBusTracing;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
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
import java.lang.management.ThreadMXBean;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The observer path alone, without a broker: CPU time of the calling thread per publish (to a transport that
 * accepts at once) and per delivery (handed to the bus's handler directly, as a transport would), for a bus unbound,
 * with metrics, with tracing unsampled, and with metrics + tracing recording every span (batch export to a counting
 * exporter, whose thread is not counted here). Rounds alternate the order. What the Kafka benchmark's observed runs
 * add to the bus's own work, measured where it is spent.
 *
 * <p>Sends complete later, a batch at a time on the calling thread (as a broker's acknowledgement completes a
 * produce request's records), so the completion stages run and are counted too. Also prints the bytes allocated per
 * event: unlike CPU time on this shared machine, that figure is the same from run to run.
 *
 * <p>Run: {@code java -cp eventbus-benchmarks/target/benchmarks.jar
 * dev.eventbus.benchmarks.observability.ObserverPathCost} ({@code -Devents=}, {@code -Drounds=},
 * {@code -DackBatch=}).
 */
public final class ObserverPathCost {

    @EventType(name = "bench.observer-path", stream = "observer-path")
    public record Placed(String orderId, long cents) {
    }

    private static final ThreadMXBean CPU = ManagementFactory.getThreadMXBean();
    /** Sends are acknowledged in batches of this many, later, as a broker's produce response does (0: at once). */
    private static final int ACK_BATCH = Integer.getInteger("ackBatch", 500);

    private ObserverPathCost() {
    }

    public static void main(String[] args) throws Exception {
        int n = Integer.getInteger("events", 300_000);
        int rounds = Integer.getInteger("rounds", 3);
        System.out.printf(Locale.ROOT, "observer path, CPU ns per event of the calling thread, %d events, load %.2f%n",
                n, ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        String[] modes = {"plain", "metrics", "tracing-unsampled", "metrics+tracing-recorded"};
        Setup[] setups = new Setup[modes.length];
        for (int i = 0; i < modes.length; i++) {
            setups[i] = new Setup(modes[i]);
            setups[i].run(n); // warm-up
        }
        for (int r = 1; r <= rounds; r++) {
            StringBuilder line = new StringBuilder("round " + r + ":");
            for (int j = 0; j < modes.length; j++) {
                int i = r % 2 == 1 ? j : modes.length - 1 - j;
                double[] c = setups[i].run(n);
                line.append(String.format(Locale.ROOT, "  %s publish %.0f ns, deliver %.0f ns (%.0f B, %.0f B);",
                        modes[i], c[0], c[1], c[2], c[3]));
            }
            System.out.println(line + String.format(Locale.ROOT, " load %.2f",
                    ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage()));
        }
        for (Setup s : setups) {
            s.close();
        }
        System.exit(0);
    }

    private static final class Setup {
        final NullTransport transport = new NullTransport();
        final EventBus bus;
        final OpenTelemetrySdk otel;
        final Placed event = new Placed("o-1", 42);
        TransportMessage wire;

        Setup(String mode) {
            EventBus.Builder b = EventBus.builder().service("bench").transport(transport);
            if (mode.contains("tracing")) {
                otel = OpenTelemetrySdk.builder().setTracerProvider(SdkTracerProvider.builder()
                                .setSampler(mode.contains("recorded") ? Sampler.alwaysOn() : Sampler.alwaysOff())
                                .addSpanProcessor(BatchSpanProcessor.builder(new DroppingExporter())
                                        .setMaxQueueSize(1 << 20).setMaxExportBatchSize(2048)
                                        .setScheduleDelay(Duration.ofMillis(100)).build()).build())
                        .setPropagators(ContextPropagators.create(W3CTraceContextPropagator.getInstance())).build();
                bus = EventBusTracing.create(otel).build(b);
            } else {
                otel = null;
                bus = b.build();
            }
            if (mode.contains("metrics")) {
                EventBusMetrics.bind(bus, new SimpleMeterRegistry());
            }
            Registration ignored = bus.subscribe(Placed.class, "g", e -> { });
            CompletableFuture<Void> first = bus.publish(event);
            transport.acknowledge(true);
            first.join();
            wire = transport.sent.get(transport.sent.size() - 1); // with a traceparent when traced
        }

        /** CPU ns per publish, per delivery; bytes allocated per publish, per delivery (the steadier figure). */
        double[] run(int n) {
            long t0 = CPU.getCurrentThreadCpuTime();
            long a0 = allocated();
            for (int i = 0; i < n; i++) {
                bus.publish(event);
                transport.acknowledge(false);
            }
            transport.acknowledge(true);
            long t1 = CPU.getCurrentThreadCpuTime();
            long a1 = allocated();
            transport.sent.clear();
            MessageHandler h = transport.handler;
            Delivery d = new Delivery(wire, 1, "observer-path-0@1", Map.of(Delivery.PARTITION_ID, "0",
                    Delivery.KAFKA_OFFSET, "1"));
            for (int i = 0; i < n; i++) {
                h.handle(d);
            }
            long t2 = CPU.getCurrentThreadCpuTime();
            long a2 = allocated();
            return new double[] {(t1 - t0) / (double) n, (t2 - t1) / (double) n, (a1 - a0) / (double) n,
                    (a2 - a1) / (double) n};
        }

        private static long allocated() {
            return ((com.sun.management.ThreadMXBean) CPU).getThreadAllocatedBytes(Thread.currentThread().getId());
        }

        void close() {
            bus.close();
            if (otel != null) {
                otel.close();
            }
        }
    }

    /**
     * Accepts every message and acknowledges them in batches ({@code -DackBatch}, 500; 0 completes each send at
     * once), keeps only the last few; hands its one handler out.
     */
    private static final class NullTransport implements Transport {
        final List<TransportMessage> sent = new CopyOnWriteArrayList<>();
        volatile MessageHandler handler;
        private int count;

        @Override
        public String name() {
            return "null";
        }

        @Override
        public Set<Capability> capabilities() {
            return Set.of();
        }

        /** Futures of sends not yet acknowledged (on the calling thread: its CPU time covers both sides). */
        private final CompletableFuture<?>[] unacknowledged = new CompletableFuture<?>[Math.max(1, ACK_BATCH)];
        private int pending;

        @Override
        public CompletableFuture<Void> send(TransportMessage message) {
            if (count++ < 4) {
                sent.add(message);
            } else {
                count = 0;
                sent.clear();
                sent.add(message);
            }
            if (ACK_BATCH == 0) {
                return CompletableFuture.completedFuture(null);
            }
            CompletableFuture<Void> f = new CompletableFuture<>();
            unacknowledged[pending++] = f;
            return f;
        }

        /** Completes the batch of pending sends when full (or {@code all}), as a produce response would. */
        void acknowledge(boolean all) {
            if (pending == unacknowledged.length || (all && pending > 0)) {
                for (int i = 0; i < pending; i++) {
                    unacknowledged[i].complete(null);
                    unacknowledged[i] = null;
                }
                pending = 0;
            }
        }

        @Override
        public TransportSubscription subscribe(SubscriptionRequest request, MessageHandler h) {
            handler = h;
            return timeout -> { };
        }

        @Override
        public void close(Duration timeout) {
        }
    }

    private static final class DroppingExporter implements SpanExporter {
        @Override
        public CompletableResultCode export(Collection<SpanData> spans) {
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
