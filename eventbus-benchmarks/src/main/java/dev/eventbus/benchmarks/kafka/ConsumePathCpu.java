package dev.eventbus.benchmarks.kafka;

import dev.eventbus.EventBus;
import dev.eventbus.PublishOptions;
import dev.eventbus.Registration;
import dev.eventbus.kafka.internal.CloudEventsBinding;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.Delivery;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.Outcome;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import dev.eventbus.spi.TransportSubscription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.apache.kafka.common.record.internal.MemoryRecords;
import org.apache.kafka.common.record.internal.RecordBatch;
import org.apache.kafka.common.record.internal.SimpleRecord;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

/**
 * CPU time per record of a Kafka consumer worker's path alone, on one thread, without a broker: how the issue 18
 * candidates were measured on a machine too loaded for throughput to show a 10% change. 2,000 records of 100 B are
 * built as the bus sends them, written by kafka-clients' record writer and read back by its record reader (so each
 * header is a {@code RecordHeader} over the record's buffer, as a consumer sees it); each round turns them into
 * {@code ConsumerRecord}s (not timed), then times {@code CloudEventsBinding.fromRecord} and, for {@code bus}, the
 * bus's own handler (JSON into the POJO, envelope, dispatch to a no-op subscriber) with the thread's CPU clock.
 *
 * <p>Compare two builds by alternating JVMs and taking the median of the later rounds (the first ones include the
 * JIT). Arguments: {@code records} per round (1000000), {@code rounds} (6), {@code bus} or {@code transport}.
 * Run: {@code java -cp eventbus-benchmarks/target/benchmarks.jar dev.eventbus.benchmarks.kafka.ConsumePathCpu}.
 */
public final class ConsumePathCpu {

    private ConsumePathCpu() {
    }

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 6;
        boolean bus = args.length < 3 || args[2].equals("bus");
        MessageHandler[] handler = new MessageHandler[1];
        Transport capture = new Transport() { // hands the bus's own consumer-side handler to this harness
            @Override
            public String name() {
                return "capture";
            }

            @Override
            public Set<Capability> capabilities() {
                return EnumSet.of(Capability.DURABLE, Capability.COMPETING_CONSUMERS, Capability.PER_KEY_ORDER);
            }

            @Override
            public CompletableFuture<Void> send(TransportMessage m) {
                return CompletableFuture.completedFuture(null);
            }

            @Override
            public TransportSubscription subscribe(SubscriptionRequest r, MessageHandler h) {
                handler[0] = h;
                return timeout -> { };
            }

            @Override
            public void close(Duration d) {
            }
        };
        long[] handled = new long[1];
        try (EventBus b = EventBus.builder().service("bench").transport(capture).build();
             Registration reg = b.subscribe(BenchEvent.class, "g", e -> handled[0]++)) {
            MemoryRecords records = records(b);
            CloudEventsBinding.Filter filter = new CloudEventsBinding.Filter("eventbus-kafka-replay-group",
                    "g".getBytes(StandardCharsets.UTF_8), new byte[][]{BenchEvent.TYPE.getBytes(StandardCharsets.UTF_8)},
                    Set.of(BenchEvent.TYPE), handler[0]::knowsType);
            ThreadMXBean mx = ManagementFactory.getThreadMXBean();
            List<ConsumerRecord<byte[], byte[]>> batch = new ArrayList<>(2000);
            long headers = 0;
            System.out.printf("Consumer worker path, %s, %,d records per round, one thread%n",
                    bus ? "fromRecord + the bus's handler" : "fromRecord", n);
            for (int r = 0; r < rounds; r++) {
                long cpu = 0;
                long done = 0;
                while (done < n) {
                    batch.clear();
                    for (RecordBatch rb : records.batches()) {
                        for (org.apache.kafka.common.record.internal.Record rec : rb) {
                            byte[] k = new byte[rec.keySize()];
                            rec.key().get(k);
                            byte[] v = new byte[rec.valueSize()];
                            rec.value().get(v);
                            batch.add(new ConsumerRecord<>("t", 0, rec.offset(), 0L, TimestampType.CREATE_TIME,
                                    k.length, v.length, k, v, new RecordHeaders(rec.headers()), Optional.empty()));
                        }
                    }
                    long c0 = mx.getCurrentThreadCpuTime();
                    for (ConsumerRecord<byte[], byte[]> cr : batch) {
                        TransportMessage m = CloudEventsBinding.fromRecord(BenchEvent.STREAM, cr, filter);
                        if (bus) {
                            Outcome o = handler[0].handle(new Delivery(m, 1, "t-0@" + cr.offset()));
                            if (o.kind() != Outcome.Kind.ACK) {
                                throw new IllegalStateException("not acknowledged: " + o);
                            }
                        } else {
                            headers += m.headers().size();
                        }
                    }
                    cpu += mx.getCurrentThreadCpuTime() - c0;
                    done += batch.size();
                }
                System.out.printf(Locale.ROOT, "  round %d: %.3f us per record, load average %s%n", r + 1,
                        cpu / 1e3 / done, Files.readString(Path.of("/proc/loadavg")).trim());
            }
            if (handled[0] + headers == 0) {
                throw new IllegalStateException("nothing was handled");
            }
        }
    }

    /** 2,000 records of 100 B events with the bus's headers, as kafka-clients writes them. */
    private static MemoryRecords records(EventBus bus) {
        CloudEventsBinding binding = new CloudEventsBinding(false);
        SimpleRecord[] out = new SimpleRecord[2000];
        for (int i = 0; i < out.length; i++) {
            BenchEvent e = BenchEvent.ofSize("o-" + (i % 1000), i, 100);
            TransportMessage m = bus.messageFor(e, PublishOptions.builder().key(e.orderId()).build());
            ProducerRecord<byte[], byte[]> p = binding.toRecord("t", e.orderId().getBytes(StandardCharsets.UTF_8), m);
            out[i] = new SimpleRecord(0L, p.key(), p.value(), p.headers().toArray());
        }
        return MemoryRecords.withRecords(Compression.NONE, out);
    }
}
