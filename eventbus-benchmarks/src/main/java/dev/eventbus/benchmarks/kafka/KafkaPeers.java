package dev.eventbus.benchmarks.kafka;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.eventbus.kafka.KafkaConfig;
import io.cloudevents.CloudEvent;
import io.cloudevents.core.builder.CloudEventBuilder;
import io.cloudevents.core.data.PojoCloudEventData;
import io.cloudevents.kafka.CloudEventDeserializer;
import io.cloudevents.kafka.CloudEventSerializer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.springframework.kafka.core.DefaultKafkaConsumerFactory;
import org.springframework.kafka.core.DefaultKafkaProducerFactory;
import org.springframework.kafka.core.KafkaTemplate;
import org.springframework.kafka.listener.ConcurrentMessageListenerContainer;
import org.springframework.kafka.listener.ContainerProperties;
import org.springframework.kafka.listener.MessageListener;

import java.net.URI;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The code a user would write instead of the bus (issue 18), for {@link KafkaBenchmarks}: the CloudEvents Java SDK's
 * Kafka binding and Spring for Apache Kafka, each with the same client properties as the transport (the transport's
 * effective producer and consumer configuration, serializers aside) and the same topic. Single-threaded callers;
 * each method opens and closes its own clients.
 */
final class KafkaPeers {

    static final URI SOURCE = URI.create("/bench");
    /** One mapper for the SDK's data, as an application holds one. */
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private KafkaPeers() {
    }

    private static Map<String, Object> producerProps(KafkaConfig config, String clientId) {
        Map<String, Object> p = new HashMap<>();
        config.producerProperties().forEach((k, v) -> p.put(String.valueOf(k), v));
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        p.remove(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG);
        p.remove(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG);
        return p;
    }

    private static Map<String, Object> consumerProps(KafkaConfig config, String group) {
        Map<String, Object> p = new HashMap<>();
        config.consumerProperties(group).forEach((k, v) -> p.put(String.valueOf(k), v));
        p.remove(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG);
        p.remove(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG);
        return p;
    }

    // ------------------------------------------------------------------------------------------- CloudEvents SDK

    /** A CloudEvents SDK producer (binary mode), open for several runs. */
    static KafkaProducer<String, CloudEvent> sdkProducer(KafkaConfig config) {
        Map<String, Object> p = producerProps(config, "bench-sdk");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, CloudEventSerializer.class.getName());
        p.put(CloudEventSerializer.ENCODING_CONFIG, "BINARY");
        return new KafkaProducer<>(p);
    }

    /** Each event built with the SDK's builder (new id, time, source, type, subject) and Jackson data. */
    static CloudEvent cloudEvent(BenchEvent e) {
        return CloudEventBuilder.v1()
                .withId(UUID.randomUUID().toString())
                .withTime(OffsetDateTime.now())
                .withSource(SOURCE)
                .withType(BenchEvent.TYPE)
                .withSubject(e.orderId())
                .withDataContentType("application/json")
                .withData(PojoCloudEventData.wrap(e, MAPPER::writeValueAsBytes))
                .build();
    }

    static double sdkPublish(KafkaProducer<String, CloudEvent> producer, String topic, List<BenchEvent> events)
            throws InterruptedException {
        CountDownLatch done = new CountDownLatch(events.size());
        AtomicLong failed = new AtomicLong();
        long t0 = System.nanoTime();
        for (BenchEvent e : events) {
            producer.send(new ProducerRecord<>(topic, e.orderId(), cloudEvent(e)), (md, x) -> {
                if (x != null) {
                    failed.incrementAndGet();
                }
                done.countDown();
            });
        }
        done.await();
        long t1 = System.nanoTime();
        check(failed.get() == 0, "SDK sends failed: " + failed.get());
        return events.size() * 1e9 / (t1 - t0);
    }

    /**
     * A poll loop with the SDK's {@code CloudEventDeserializer} that reads the attributes our envelope exposes (id,
     * type, source, time, subject, content type) and decodes the data into the POJO with Jackson.
     */
    static double sdkConsume(KafkaConfig config, String topic, int n) throws Exception {
        Map<String, Object> p = consumerProps(config, "sdk-" + UUID.randomUUID());
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, CloudEventDeserializer.class.getName());
        try (KafkaConsumer<String, CloudEvent> c = new KafkaConsumer<>(p)) {
            c.subscribe(List.of(topic));
            long count = 0;
            long t0 = 0;
            long checksum = 0;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (count < n) {
                ConsumerRecords<String, CloudEvent> recs = c.poll(Duration.ofMillis(100));
                if (!recs.isEmpty() && t0 == 0) {
                    t0 = System.nanoTime();
                }
                for (ConsumerRecord<String, CloudEvent> r : recs) {
                    CloudEvent ce = r.value();
                    checksum += ce.getId().length() + ce.getType().length() + ce.getSource().hashCode()
                            + (ce.getTime() == null ? 0 : ce.getTime().getNano())
                            + (ce.getSubject() == null ? 0 : ce.getSubject().length())
                            + (ce.getDataContentType() == null ? 0 : 1);
                    BenchEvent e = MAPPER.readValue(ce.getData().toBytes(), BenchEvent.class);
                    checksum += e.seq();
                    count++;
                }
                if (!recs.isEmpty()) {
                    c.commitAsync();
                }
                check(System.nanoTime() < deadline, "SDK consumer stalled at " + count);
            }
            long t1 = System.nanoTime();
            check(checksum != 0, "nothing read");
            return n * 1e9 / (t1 - t0);
        }
    }

    // ---------------------------------------------------------------------------------------- Spring for Kafka

    /** {@code KafkaTemplate} with Spring's {@code JsonSerializer} (Jackson 2, adds its {@code __TypeId__} header). */
    @SuppressWarnings("removal")
    static DefaultKafkaProducerFactory<String, BenchEvent> springProducerFactory(KafkaConfig config) {
        return new DefaultKafkaProducerFactory<>(producerProps(config, "bench-spring"), new StringSerializer(),
                new org.springframework.kafka.support.serializer.JsonSerializer<BenchEvent>());
    }

    static double springPublish(KafkaTemplate<String, BenchEvent> template, String topic, List<BenchEvent> events)
            throws InterruptedException {
        CountDownLatch done = new CountDownLatch(events.size());
        AtomicLong failed = new AtomicLong();
        long t0 = System.nanoTime();
        for (BenchEvent e : events) {
            template.send(topic, e.orderId(), e).whenComplete((r, x) -> {
                if (x != null) {
                    failed.incrementAndGet();
                }
                done.countDown();
            });
        }
        done.await();
        long t1 = System.nanoTime();
        check(failed.get() == 0, "Spring sends failed: " + failed.get());
        return events.size() * 1e9 / (t1 - t0);
    }

    /**
     * A {@code ConcurrentMessageListenerContainer} (what {@code @KafkaListener} builds) with Spring's
     * {@code JsonDeserializer} into the POJO, container defaults (batch acks after each poll), {@code threads}
     * consumers; the listener reads the key and the event.
     */
    static double springConsume(KafkaConfig config, String topic, int n, int threads) throws Exception {
        return springConsume(config, topic, n, threads, () -> { });
    }

    /** As above; {@code whenDone} runs after the last record, while the container's threads still run. */
    @SuppressWarnings("removal")
    static double springConsume(KafkaConfig config, String topic, int n, int threads, Runnable whenDone)
            throws Exception {
        Map<String, Object> p = consumerProps(config, "spring-" + UUID.randomUUID());
        DefaultKafkaConsumerFactory<String, BenchEvent> cf = new DefaultKafkaConsumerFactory<>(p,
                StringDeserializer::new, () -> {
                    var d = new org.springframework.kafka.support.serializer.JsonDeserializer<>(BenchEvent.class);
                    d.addTrustedPackages(BenchEvent.class.getPackageName());
                    return d;
                });
        ContainerProperties cp = new ContainerProperties(topic);
        cp.setGroupId(String.valueOf(p.get(ConsumerConfig.GROUP_ID_CONFIG)));
        AtomicLong first = new AtomicLong();
        AtomicLong count = new AtomicLong();
        AtomicLong checksum = new AtomicLong();
        CountDownLatch done = new CountDownLatch(1);
        cp.setMessageListener((MessageListener<String, BenchEvent>) r -> {
            if (count.get() == 0) {
                first.compareAndSet(0, System.nanoTime());
            }
            BenchEvent e = r.value();
            if (e.seq() < 0 || r.key() == null) {
                checksum.incrementAndGet();
            }
            if (count.incrementAndGet() == n) {
                done.countDown();
            }
        });
        ConcurrentMessageListenerContainer<String, BenchEvent> container = new ConcurrentMessageListenerContainer<>(cf, cp);
        container.setConcurrency(threads);
        container.setBeanName("spring-bench");
        container.start();
        try {
            check(done.await(120, TimeUnit.SECONDS), "Spring container stalled at " + count.get());
            double rate = n * 1e9 / (System.nanoTime() - first.get());
            whenDone.run();
            return rate;
        } finally {
            container.stop();
        }
    }

    private static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException(what);
        }
    }
}
