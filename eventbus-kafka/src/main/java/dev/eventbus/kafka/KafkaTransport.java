package dev.eventbus.kafka;

import dev.eventbus.ConfigException;
import dev.eventbus.EventBusException;
import dev.eventbus.ReplayFrom;
import dev.eventbus.ReplayResult;
import dev.eventbus.kafka.internal.ClientIds;
import dev.eventbus.kafka.internal.CloudEventsBinding;
import dev.eventbus.kafka.internal.DeadLetterTopics;
import dev.eventbus.kafka.internal.GroupReplay;
import dev.eventbus.kafka.internal.NamedThreads;
import dev.eventbus.kafka.internal.SubscriptionRunner;
import dev.eventbus.kafka.internal.Topics;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.MessageHandler;
import dev.eventbus.spi.SubscriptionRequest;
import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportMessage;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.producer.Callback;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.RetriableException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Carries eventbus messages over Apache Kafka (kafka-clients): stream = topic, record key = the event's key,
 * CloudEvents Kafka protocol binding on the wire, one Kafka consumer group per subscription group.
 *
 * <h2>Sending</h2>
 * {@link #send} hands the record to an idempotent {@code acks=all} producer and returns a future that
 * completes when the broker acknowledged the record, or fails with an {@link EventBusException} carrying the
 * broker's error ({@link EventBusException#isRetriable()} tells transient failures apart). The first send to a
 * topic blocks while the topic is looked up (and created, if {@link KafkaConfig#CREATE_TOPICS} allows); later
 * sends block only when the producer's buffer is full, as {@code KafkaProducer.send} does. Futures complete on
 * the producer's I/O thread: do not block in their continuations. Messages with a
 * {@link TransportMessage#deliverAt()} in the future are refused (Kafka has no per-message delay).
 * {@link #sendBatch} uses one Kafka transaction per batch when {@link KafkaConfig#TRANSACTIONAL_ID} is set.
 *
 * <h2>Consuming</h2>
 * {@link #subscribe} starts a {@link KafkaSubscription}: a consumer in the group, polled by its own thread;
 * handlers run on {@code concurrency} threads, records of one key one after the other; offsets are committed
 * only up to the first record whose outcome is undecided. {@code RETRY} outcomes wait in the group's retry topic
 * (or in memory, see {@link KafkaConfig#RETRY_TOPICS}) without holding up other records; {@code DEAD} outcomes and
 * unreadable records go to the topic's dead-letter topic, which {@link #deadLetters()} lists and replays.
 *
 * <p>Thread-safe: every method may be called from any thread. Lifecycle: {@link #create} checks that a broker
 * answers ({@link KafkaConfig#CONNECT_TIMEOUT}) and fails at once otherwise; {@link #close(Duration)} closes the subscriptions (waiting for
 * their handlers, committing), flushes the producer and releases all threads and connections. It must be
 * called.
 */
public final class KafkaTransport implements Transport, dev.eventbus.spi.HealthCheck {

    private static final Logger log = LoggerFactory.getLogger(KafkaTransport.class);

    private final KafkaConfig config;
    private final CloudEventsBinding binding;
    private final Producer<byte[], byte[]> producer;
    private final Admin admin;
    private final Topics topics;
    private final DeadLetterTopics deadLetters;
    private final ScheduledThreadPoolExecutor scheduler;
    private final Set<Capability> capabilities;
    private final Set<SubscriptionRunner> subscriptions = ConcurrentHashMap.newKeySet();
    private final ConcurrentHashMap<String, String> topicOfStream = new ConcurrentHashMap<>();
    /** Transactional batches: one producer, one transaction at a time, on its own thread. */
    private final ExecutorService transactions;
    private Producer<byte[], byte[]> transactional;
    private volatile boolean closed;
    /** Whether a record may have been handed to {@link #producer}: a send, a subscription, a dead-letter replay. */
    private volatile boolean used;

    private KafkaTransport(KafkaConfig config) {
        this.config = config;
        this.binding = new CloudEventsBinding(config.bindingMode() == KafkaConfig.BindingMode.STRUCTURED);
        Admin a = null;
        Producer<byte[], byte[]> p = null;
        try {
            Map<String, Object> adminProps = config.adminProperties();
            adminProps.put(AdminClientConfig.CLIENT_ID_CONFIG, ClientIds.of(config.serviceName(),
                    adminProps.get(AdminClientConfig.CLIENT_ID_CONFIG), "admin"));
            a = Admin.create(adminProps);
            awaitBrokers(a, config);
            p = new KafkaProducer<>(producerProperties(config, "producer"));
        } catch (EventBusException e) {
            closeQuietly(a);
            throw e;
        } catch (KafkaException e) {
            closeQuietly(p);
            closeQuietly(a);
            throw new ConfigException(KafkaConfig.BOOTSTRAP_SERVERS, "Could not create the Kafka clients from '"
                    + KafkaConfig.BOOTSTRAP_SERVERS + "' and the other eventbus.kafka.* client settings: "
                    + e.getMessage() + (e.getCause() == null ? "" : " (" + e.getCause().getMessage() + ")"), e);
        }
        this.admin = a;
        this.producer = p;
        this.topics = new Topics(admin, config);
        this.deadLetters = new DeadLetterTopics(config, producer);
        this.scheduler = new ScheduledThreadPoolExecutor(1, new NamedThreads("eventbus-kafka-scheduler"));
        this.scheduler.setRemoveOnCancelPolicy(true);
        EnumSet<Capability> caps = EnumSet.of(Capability.DURABLE, Capability.COMPETING_CONSUMERS,
                Capability.PER_KEY_ORDER, Capability.DEAD_LETTER_STORE, Capability.REDELIVERY_AFTER_CRASH,
                Capability.REPLAY);
        if (config.transactionalId() != null) {
            caps.add(Capability.TRANSACTIONAL_BATCH);
            this.transactions = Executors.newSingleThreadExecutor(new NamedThreads("eventbus-kafka-tx"));
        } else {
            this.transactions = null;
        }
        this.capabilities = Collections.unmodifiableSet(caps);
    }

    /**
     * Creates a transport: validates the configuration, checks that the brokers answer (within
     * {@link KafkaConfig#CONNECT_TIMEOUT}, unless that is zero) and creates the producer and admin client. Blocks
     * until the brokers answered or the connect timeout passed.
     *
     * @throws ConfigException when the configuration is invalid (for example an unresolvable bootstrap server)
     * @throws EventBusException (retriable) naming {@link KafkaConfig#BOOTSTRAP_SERVERS} when the brokers did not
     *         answer within the connect timeout; nothing is left running then
     */
    public static KafkaTransport create(KafkaConfig config) {
        return new KafkaTransport(Objects.requireNonNull(config, "config"));
    }

    /** The configuration this transport was created with. */
    public KafkaConfig config() {
        return config;
    }

    @Override
    public String name() {
        return KafkaTransportProvider.NAME;
    }

    @Override
    public Set<Capability> capabilities() {
        return capabilities;
    }

    @Override
    public CompletableFuture<Void> send(TransportMessage message) {
        Objects.requireNonNull(message, "message");
        try {
            ProducerRecord<byte[], byte[]> record = toRecord(message);
            SendFuture f = new SendFuture(record.topic(), config);
            used = true;
            producer.send(record, f);
            return f;
        } catch (EventBusException e) {
            return CompletableFuture.failedFuture(e);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(closed ? closedException() : refused(topic(message.stream()), e, config));
        }
    }

    private ProducerRecord<byte[], byte[]> toRecord(TransportMessage message) {
        if (closed) {
            throw closedException();
        }
        Instant at = message.deliverAt();
        if (at != null && at.isAfter(Instant.now())) {
            throw new EventBusException("The kafka transport cannot delay a message (deliverAt " + at + "): Kafka has "
                    + "no per-message delay. Publish without a delay, or route delayed events to a transport with "
                    + "DELAYED_DELIVERY");
        }
        String topic = topic(message.stream());
        if (!topics.isKnown(topic)) {
            // A publisher never waits longer than the publish timeout, not even for a new topic.
            topics.ensure(List.of(topic), Math.min(config.topicTimeout().toMillis(), config.publishTimeout().toMillis()));
        }
        String key = config.recordKey(message);
        return binding.toRecord(topic, key == null ? null : CloudEventsBinding.utf8(key), message);
    }

    private String topic(String stream) {
        if (config.topicPrefix().isEmpty()) {
            return stream;
        }
        String t = topicOfStream.get(stream);
        if (t == null) {
            t = config.topic(stream);
            if (topicOfStream.size() < 10_000) {
                topicOfStream.put(stream, t);
            }
        }
        return t;
    }

    /** The future of one send and the producer's callback for it: one object per send instead of two. */
    private static final class SendFuture extends CompletableFuture<Void> implements Callback {
        private final String topic;
        private final KafkaConfig config;

        SendFuture(String topic, KafkaConfig config) {
            this.topic = topic;
            this.config = config;
        }

        @Override
        public void onCompletion(RecordMetadata metadata, Exception e) {
            if (e == null) {
                complete(null);
            } else {
                completeExceptionally(refused(topic, e, config));
            }
        }
    }

    private static EventBusException refused(String topic, Throwable e, KafkaConfig config) {
        if (e instanceof org.apache.kafka.common.errors.TimeoutException) {
            return new EventBusException("Kafka did not acknowledge the record for topic '" + topic + "' within "
                    + config.publishTimeout().toMillis() + " ms (" + KafkaConfig.PUBLISH_TIMEOUT + "); is Kafka at '"
                    + config.bootstrapServers() + "' (" + KafkaConfig.BOOTSTRAP_SERVERS + ") reachable? " + e, e, true);
        }
        return new EventBusException("Kafka did not accept the record for topic '" + topic + "': " + e, e,
                e instanceof RetriableException);
    }

    private static EventBusException closedException() {
        return new EventBusException("the kafka transport is closed");
    }

    /**
     * Sends the messages in order. With {@link KafkaConfig#TRANSACTIONAL_ID} set they are sent in one Kafka
     * transaction: a {@code read_committed} consumer sees all of them or, when the future fails, none. Without
     * it, they are sent one by one and the future fails if any failed. Ordering between a batch and single
     * sends is not guaranteed (they use different producers).
     */
    @Override
    public CompletableFuture<Void> sendBatch(List<TransportMessage> messages) {
        Objects.requireNonNull(messages, "messages");
        if (transactions == null) {
            return Transport.super.sendBatch(messages);
        }
        if (messages.isEmpty()) {
            return CompletableFuture.completedFuture(null);
        }
        List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>(messages.size());
        try {
            Set<String> batchTopics = new LinkedHashSet<>();
            for (TransportMessage m : messages) {
                batchTopics.add(topic(m.stream()));
            }
            topics.ensure(batchTopics);
            for (TransportMessage m : messages) {
                records.add(toRecord(m));
            }
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
        CompletableFuture<Void> f = new CompletableFuture<>();
        try {
            transactions.execute(() -> {
                try {
                    sendInTransaction(records);
                    f.complete(null);
                } catch (Throwable t) {
                    f.completeExceptionally(t);
                }
            });
        } catch (RuntimeException e) {
            f.completeExceptionally(closedException());
        }
        return f;
    }

    /** Runs on the transaction thread only. */
    private void sendInTransaction(List<ProducerRecord<byte[], byte[]>> records) {
        if (closed) {
            throw closedException();
        }
        Producer<byte[], byte[]> p = transactionalProducer();
        try {
            p.beginTransaction();
            List<Future<?>> sent = new ArrayList<>(records.size());
            for (ProducerRecord<byte[], byte[]> r : records) {
                sent.add(p.send(r));
            }
            p.commitTransaction();
            for (Future<?> s : sent) {
                s.get(); // already complete: a failed record makes commitTransaction throw first
            }
        } catch (ProducerFencedException | OutOfOrderSequenceException | AuthorizationException e) {
            // Fatal for this producer: drop it; the next batch creates a new one.
            closeQuietly(p);
            transactional = null;
            throw new EventBusException("Kafka transaction failed and was not committed: " + e, e, false);
        } catch (Exception e) {
            Throwable cause = e instanceof java.util.concurrent.ExecutionException ? e.getCause() : e;
            try {
                p.abortTransaction();
            } catch (RuntimeException abortFailed) {
                closeQuietly(p);
                transactional = null;
            }
            throw new EventBusException("Kafka transaction aborted, none of its " + records.size()
                    + " records is visible to read_committed consumers: " + cause, cause,
                    cause instanceof RetriableException);
        }
    }

    private Producer<byte[], byte[]> transactionalProducer() {
        if (transactional == null) {
            Map<String, Object> props = producerProperties(config, "tx-producer");
            props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, config.transactionalId());
            KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props);
            try {
                p.initTransactions();
            } catch (RuntimeException e) {
                closeQuietly(p);
                throw new EventBusException("Could not initialise Kafka transactions for "
                        + KafkaConfig.TRANSACTIONAL_ID + "=" + config.transactionalId() + ": " + e, e,
                        e instanceof RetriableException);
            }
            transactional = p;
        }
        return transactional;
    }

    /**
     * Subscribes a group to a stream: ensures the topic (and the group's retry topic and the dead-letter topic)
     * exists, then starts a consumer. Returns at once; partitions arrive with the group's rebalance
     * ({@link KafkaSubscription#awaitAssignment(Duration)}).
     *
     * @throws EventBusException when a topic is missing and may not be created, or the broker cannot be reached
     * @throws IllegalStateException when the transport is closed
     */
    @Override
    public KafkaSubscription subscribe(SubscriptionRequest request, MessageHandler handler) {
        Objects.requireNonNull(request, "request");
        Objects.requireNonNull(handler, "handler");
        if (closed) {
            throw new IllegalStateException("the kafka transport is closed");
        }
        String topic = config.topic(request.stream());
        List<String> needed = new ArrayList<>();
        needed.add(topic);
        if (config.retryTopics()) {
            needed.add(config.retryTopic(topic, request.group()));
        }
        needed.add(config.deadLetterTopic(topic));
        topics.ensure(needed);
        SubscriptionRunner runner = new SubscriptionRunner(config, request, handler, producer, scheduler,
                subscriptions::remove);
        subscriptions.add(runner);
        used = true;
        if (closed) {
            subscriptions.remove(runner);
            runner.close(Duration.ZERO);
            throw new IllegalStateException("the kafka transport is closed");
        }
        runner.start();
        return runner;
    }

    /** The dead letters in this transport's dead-letter topics; listing and replay block on the broker. */
    @Override
    public DeadLetterStore deadLetters() {
        used = true;
        return deadLetters;
    }

    /**
     * Moves consumer group {@code group} on {@code stream}'s topic to {@code from} (offsets by time through
     * {@code ListOffsets}, like {@code offsetsForTimes}; a time after the last record is the end offset), so it
     * handles the records from there on again. Blocks until the new offsets are committed.
     *
     * <ul>
     *   <li>Partitions held by this transport's running subscriptions of the group: their poll threads seek and
     *       commit, and the subscriptions continue from there. Records they had queued are not started; a handler
     *       already running finishes, and its record is handled again when it lies after the new offset.</li>
     *   <li>A group with no members: its committed offsets are altered through the admin client; it starts there
     *       when it next runs.</li>
     *   <li>Partitions held by other instances of the group: refused with an {@link IllegalStateException} before
     *       anything moves (their consumers keep their positions in memory and would commit over a change made from
     *       here). Close the group's subscriptions there, replay, start them again.</li>
     * </ul>
     * Records waiting in the group's retry topic and dead letters are not moved.
     *
     * @throws IllegalStateException    when other instances hold partitions of the topic, or the transport is closed
     * @throws IllegalArgumentException when {@code from} names a partition the topic does not have
     * @throws EventBusException        when the broker fails or a rebalance does not settle within
     *                                  {@link KafkaConfig#TOPIC_TIMEOUT} (retriable)
     */
    @Override
    public ReplayResult replay(String group, String stream, ReplayFrom from) {
        Objects.requireNonNull(group, "group");
        Objects.requireNonNull(stream, "stream");
        Objects.requireNonNull(from, "from");
        if (closed) {
            throw new IllegalStateException("the kafka transport is closed");
        }
        String topic = config.topic(stream);
        List<SubscriptionRunner> local = new ArrayList<>();
        for (SubscriptionRunner r : subscriptions) {
            if (r.group().equals(group) && r.topic().equals(topic) && !r.isClosed()) {
                local.add(r);
            }
        }
        return new GroupReplay(admin, config, name()).replay(group, stream, topic, from, local);
    }

    /**
     * Closes every subscription (in parallel, each waiting up to {@code timeout} for its running handlers, then
     * committing and leaving its group), then flushes and closes the producers and the admin client. Idempotent.
     * Blocks up to about {@code timeout} plus a few seconds for the final commits.
     */
    @Override
    public void close(Duration timeout) {
        if (closed) {
            return;
        }
        closed = true;
        long deadline = System.nanoTime() + timeout.toNanos();
        List<SubscriptionRunner> subs = new ArrayList<>(subscriptions);
        for (SubscriptionRunner s : subs) {
            s.beginClose(timeout);
        }
        for (SubscriptionRunner s : subs) {
            s.awaitClosed();
        }
        Duration left = Duration.ofNanos(Math.max(Duration.ofSeconds(1).toNanos(), deadline - System.nanoTime()));
        if (transactions != null) {
            transactions.shutdown();
            try {
                transactions.awaitTermination(left.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (transactional != null) {
                transactional.close(left);
            }
        }
        scheduler.shutdownNow();
        try {
            deadLetters.close();
        } catch (RuntimeException e) {
            log.warn("closing the dead-letter reader failed", e);
        }
        try {
            // Nothing to flush when nothing was sent (retry and dead-letter records count as sent), and the
            // close of an idempotent producer that never reached a broker otherwise waits on its connection.
            producer.close(used ? left : Duration.ZERO);
        } catch (RuntimeException e) {
            log.warn("closing the Kafka producer failed", e);
        }
        admin.close(Duration.ZERO); // every admin call of ours is waited for by its caller: none is pending
    }

    /**
     * Fails fast, and once, when the brokers cannot be reached: otherwise the bus would build, then a subscribe
     * would wait for the topic look-up, while every client logs its reconnection attempts.
     */
    private static void awaitBrokers(Admin admin, KafkaConfig config) {
        long ms = config.connectTimeout().toMillis();
        if (ms == 0) {
            return;
        }
        Throwable cause;
        try {
            admin.describeCluster(new DescribeClusterOptions().timeoutMs((int) Math.min(Integer.MAX_VALUE, ms)))
                    .clusterId().get(ms + 1000, TimeUnit.MILLISECONDS);
            return;
        } catch (ExecutionException e) {
            cause = e.getCause();
        } catch (java.util.concurrent.TimeoutException e) {
            cause = e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            cause = e;
        }
        String why = cause instanceof org.apache.kafka.common.errors.TimeoutException
                || cause instanceof java.util.concurrent.TimeoutException
                ? "no broker answered" : cause.getClass().getSimpleName() + ": " + cause.getMessage();
        throw new EventBusException("Could not reach Kafka at '" + config.bootstrapServers() + "' ("
                + KafkaConfig.BOOTSTRAP_SERVERS + ") within " + config.connectTimeout().toMillis() + " ms ("
                + KafkaConfig.CONNECT_TIMEOUT + "): " + why + ". Check that the brokers run and that "
                + KafkaConfig.BOOTSTRAP_SERVERS + " names them.", cause, !(cause instanceof AuthenticationException));
    }

    private static Map<String, Object> producerProperties(KafkaConfig config, String role) {
        Map<String, Object> props = config.producerProperties();
        Object user = props.get(ProducerConfig.CLIENT_ID_CONFIG);
        props.put(ProducerConfig.CLIENT_ID_CONFIG, ClientIds.of(config.serviceName(), user == null ? null
                : role.equals("producer") ? user : user + "-tx", role));
        return props;
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                if (c instanceof Admin admin) {
                    admin.close(Duration.ZERO); // nothing of ours is pending: do not wait on unreachable brokers
                } else {
                    c.close();
                }
            } catch (Exception ignored) {
                // already failing: the first error is the one to report
            }
        }
    }

    @Override
    public String toString() {
        return "KafkaTransport{" + config + '}';
    }

    /** Up when a broker answers {@code describeCluster} within {@code timeout}; never throws. */
    @Override
    public dev.eventbus.spi.HealthCheck.Result check(Duration timeout) {
        Map<String, Object> details = Map.of("bootstrap.servers",
                String.valueOf(config.adminProperties().get("bootstrap.servers")));
        if (closed) {
            return dev.eventbus.spi.HealthCheck.Result.down("transport closed", details);
        }
        try {
            int ms = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
            int brokers = admin.describeCluster(new org.apache.kafka.clients.admin.DescribeClusterOptions()
                    .timeoutMs(ms)).nodes().get(ms + 1000L, TimeUnit.MILLISECONDS).size();
            Map<String, Object> up = new java.util.LinkedHashMap<>(details);
            up.put("brokers", brokers);
            return dev.eventbus.spi.HealthCheck.Result.up(up);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return dev.eventbus.spi.HealthCheck.Result.down("interrupted", details);
        } catch (Exception e) {
            Throwable c = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null ? e.getCause() : e;
            return dev.eventbus.spi.HealthCheck.Result.down(c.toString(), details);
        }
    }
}
