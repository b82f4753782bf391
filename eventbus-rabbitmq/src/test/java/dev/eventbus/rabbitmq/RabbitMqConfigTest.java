package dev.eventbus.rabbitmq;

import dev.eventbus.ConfigException;
import dev.eventbus.EventBusException;
import dev.eventbus.spi.Capability;
import dev.eventbus.spi.TransportContext;
import dev.eventbus.spi.TransportProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.time.Duration;
import java.util.Map;
import java.util.ServiceLoader;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Configuration parsing and validation; the connection failures use the real (local) network. */
class RabbitMqConfigTest {

    @Test
    void readsEveryPartOfTheUri() {
        RabbitMqConfig c = RabbitMqConfig.builder().uri("amqp://alice:p%40ss@broker.example:5673/orders-vh").build();
        assertThat(c.host()).isEqualTo("broker.example");
        assertThat(c.port()).isEqualTo(5673);
        assertThat(c.username()).isEqualTo("alice");
        assertThat(c.password()).isEqualTo("p@ss");
        assertThat(c.virtualHost()).isEqualTo("orders-vh");
        assertThat(c.tls()).isFalse();
    }

    @Test
    void aTrailingSlashOrNoPathMeansTheDefaultVirtualHost() {
        assertThat(RabbitMqConfig.builder().uri("amqp://guest:guest@localhost:5672/").build().virtualHost()).isEqualTo("/");
        assertThat(RabbitMqConfig.builder().uri("amqp://localhost").build().virtualHost()).isEqualTo("/");
        assertThat(RabbitMqConfig.builder().uri("amqp://localhost/%2F").build().virtualHost()).isEqualTo("/");
        assertThat(RabbitMqConfig.builder().uri("amqp://localhost").build().port()).isEqualTo(5672);
    }

    @Test
    void amqpsMeansTlsOnPort5671AndExplicitKeysOverrideTheUri() {
        RabbitMqConfig c = RabbitMqConfig.builder().uri("amqps://u:p@h/").host("other").username("bob").build();
        assertThat(c.tls()).isTrue();
        assertThat(c.port()).isEqualTo(5671);
        assertThat(c.host()).isEqualTo("other");
        assertThat(c.username()).isEqualTo("bob");
        assertThat(c.password()).isEqualTo("p");
    }

    @Test
    void fromContextReadsTheKeysAndRejectsBadValuesNamingTheKey() {
        RabbitMqConfig c = RabbitMqConfig.from(new TransportContext("orders", Map.of(
                RabbitMqConfig.URI, "amqp://guest:guest@localhost:5672/",
                RabbitMqConfig.QUEUE_TYPE, "classic", RabbitMqConfig.MAX_PRIORITY, "10",
                RabbitMqConfig.PREFETCH, "50", RabbitMqConfig.PUBLISH_TIMEOUT, "5s",
                RabbitMqConfig.TOPOLOGY_PREFIX, "prod.", RabbitMqConfig.KEY_ORDER, "false")));
        assertThat(c.serviceName()).isEqualTo("orders");
        assertThat(c.queueType()).isEqualTo(RabbitMqConfig.QueueType.CLASSIC);
        assertThat(c.maxPriority()).isEqualTo(10);
        assertThat(c.prefetch()).isEqualTo(50);
        assertThat(c.publishTimeout()).isEqualTo(Duration.ofSeconds(5));
        assertThat(c.prefix()).isEqualTo("prod.");
        assertThat(c.keyOrder()).isFalse();

        assertThatThrownBy(() -> RabbitMqConfig.from(new TransportContext("s", Map.of(RabbitMqConfig.QUEUE_TYPE, "fast"))))
                .isInstanceOf(ConfigException.class).hasMessageContaining(RabbitMqConfig.QUEUE_TYPE)
                .hasMessageContaining("quorum").hasMessageContaining("classic");
        assertThatThrownBy(() -> RabbitMqConfig.from(new TransportContext("s", Map.of(RabbitMqConfig.PREFETCH, "lots"))))
                .isInstanceOf(ConfigException.class).hasMessageContaining(RabbitMqConfig.PREFETCH);
        assertThatThrownBy(() -> RabbitMqConfig.from(new TransportContext("s", Map.of(RabbitMqConfig.PUBLISH_TIMEOUT, "0s"))))
                .isInstanceOf(ConfigException.class).hasMessageContaining(RabbitMqConfig.PUBLISH_TIMEOUT);
    }

    @Test
    void priorityNeedsClassicQueues() {
        assertThatThrownBy(() -> RabbitMqConfig.builder().maxPriority(5).build())
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(RabbitMqConfig.MAX_PRIORITY)
                .hasMessageContaining(RabbitMqConfig.QUEUE_TYPE + "=classic");
    }

    @Test
    void aBadUriFailsWithoutShowingIt() {
        assertThatThrownBy(() -> RabbitMqConfig.builder().uri("http://u:s3cret@host/").build())
                .isInstanceOf(ConfigException.class)
                .hasMessageContaining(RabbitMqConfig.URI).hasMessageContaining("amqp://")
                .hasMessageNotContaining("s3cret");
    }

    @Test
    void secretsNeverAppearInToString() {
        RabbitMqConfig c = RabbitMqConfig.builder().uri("amqp://alice:s3cret@h:5672/v").build();
        assertThat(c.toString()).doesNotContain("s3cret").contains("alice").contains("h:5672");
    }

    @Test
    void theProviderIsFoundByNameThroughServiceLoader() {
        TransportProvider found = ServiceLoader.load(TransportProvider.class).stream()
                .map(ServiceLoader.Provider::get).filter(p -> p.name().equals("rabbitmq")).findFirst().orElseThrow();
        assertThat(found).isInstanceOf(RabbitMqTransportProvider.class);
    }

    @Test
    void theProviderBuildsAWorkingTransportFromConfiguration() {
        RabbitMqTestSupport.requireBroker();
        var t = new RabbitMqTransportProvider().create(new TransportContext("orders", Map.of(
                RabbitMqConfig.URI, RabbitMqTestSupport.URI, RabbitMqConfig.KEY_ORDER, "false")));
        try {
            assertThat(t.name()).isEqualTo("rabbitmq");
            assertThat(t.capabilities()).doesNotContain(Capability.PER_KEY_ORDER).contains(Capability.DURABLE);
        } finally {
            t.close(Duration.ofSeconds(5));
        }
    }

    @Test
    void anUnreachableBrokerFailsAtCreateSayingWhereAndHowToStartOneWithoutThePassword() {
        RabbitMqConfig c = RabbitMqConfig.builder().uri("amqp://alice:s3cret@127.0.0.1:1/").connectionTimeout(Duration.ofSeconds(2)).build();
        assertThatThrownBy(() -> RabbitMqTransport.create(c))
                .isInstanceOf(EventBusException.class)
                .hasMessageContaining("127.0.0.1:1").hasMessageContaining("rabbitmq-server -detached")
                .hasMessageNotContaining("s3cret")
                .matches(e -> ((EventBusException) e).isRetriable());
    }

    @Test
    void wrongCredentialsFailAtCreateNamingTheKeysButNotThePassword() {
        RabbitMqTestSupport.requireBroker();
        RabbitMqConfig base = RabbitMqConfig.builder().uri(RabbitMqTestSupport.URI).build();
        RabbitMqConfig c = RabbitMqConfig.builder().host(base.host()).port(base.port()).virtualHost(base.virtualHost())
                .username("nobody").password("s3cret-wrong").build();
        assertThatThrownBy(() -> RabbitMqTransport.create(c))
                .isInstanceOf(EventBusException.class)
                .hasMessageContaining("refused the credentials").hasMessageContaining(RabbitMqConfig.PASSWORD)
                .hasMessageNotContaining("s3cret-wrong")
                .matches(e -> !((EventBusException) e).isRetriable());
    }

    @Test
    void tlsUsesTheConfiguredTrustStore(@TempDir Path dir) throws Exception {
        Path store = dir.resolve("trust.p12");
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        try (OutputStream out = Files.newOutputStream(store)) {
            ks.store(out, "changeit".toCharArray());
        }
        assertThatThrownBy(() -> RabbitMqConfig.builder().trustStore(store, "changeit").build())
                .isInstanceOf(ConfigException.class).hasMessageContaining(RabbitMqConfig.TLS);
        assertThatThrownBy(() -> RabbitMqConfig.builder().tls(true).trustStore(dir.resolve("missing.p12"), "x").build())
                .isInstanceOf(ConfigException.class).hasMessageContaining(RabbitMqConfig.TLS_TRUST_STORE);
        RabbitMqConfig wrongPassword = RabbitMqConfig.builder().uri("amqps://guest:guest@127.0.0.1:5672/")
                .trustStore(store, "wrong").build();
        assertThatThrownBy(() -> RabbitMqTransport.create(wrongPassword))
                .isInstanceOf(ConfigException.class).hasMessageContaining(RabbitMqConfig.TLS_TRUST_STORE);
        // A TLS handshake against the plain AMQP port fails: proof that TLS is really used.
        RabbitMqConfig tls = RabbitMqConfig.builder().uri("amqps://guest:guest@127.0.0.1:5672/")
                .trustStore(store, "changeit").connectionTimeout(Duration.ofSeconds(3)).build();
        assertThatThrownBy(() -> RabbitMqTransport.create(tls))
                .isInstanceOf(EventBusException.class).hasMessageContaining("Cannot connect to RabbitMQ at amqps://127.0.0.1:5672/");
    }

    @Test
    void theProviderDeclaresEveryKeyConstantSoTheBusRefusesAnyOtherKeyInTheNamespace() throws Exception {
        java.util.Set<String> constants = new java.util.TreeSet<>();
        for (java.lang.reflect.Field f : RabbitMqConfig.class.getFields()) {
            if (java.lang.reflect.Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
                String v = (String) f.get(null);
                if (v.startsWith("eventbus.rabbitmq.")) {
                    constants.add(v);
                }
            }
        }
        RabbitMqTransportProvider provider = new RabbitMqTransportProvider();
        assertThat(constants).hasSize(27);
        assertThat(new java.util.TreeSet<>(provider.configKeys())).isEqualTo(constants);
        assertThat(provider.configKeys()).doesNotHaveDuplicates();
        assertThat(provider.acceptsKey(RabbitMqConfig.KEY_ORDER)).isTrue();
        assertThat(provider.acceptsKey(RabbitMqConfig.PUBLISH_MAX_BLOCK)).isTrue();
        assertThat(provider.acceptsKey("eventbus.rabbitmq.bogus")).isFalse();
        assertThat(provider.acceptsKey("eventbus.rabbitmq.keyorder")).isFalse();
    }

    @Test
    void theReaderReadsEveryDeclaredKeyAndNoOther(@TempDir Path dir) throws Exception {
        Path store = dir.resolve("trust.p12");
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        try (OutputStream out = Files.newOutputStream(store)) {
            ks.store(out, "changeit".toCharArray());
        }
        // Every declared key set at once: the reader fails on any key it reads that is not declared.
        Map<String, String> all = new java.util.HashMap<>();
        all.put(RabbitMqConfig.URI, "amqps://u:p@h:5999/v");
        all.put(RabbitMqConfig.HOST, "other-host");
        all.put(RabbitMqConfig.PORT, "5998");
        all.put(RabbitMqConfig.USERNAME, "bob");
        all.put(RabbitMqConfig.PASSWORD, "pw");
        all.put(RabbitMqConfig.VIRTUAL_HOST, "vh");
        all.put(RabbitMqConfig.TLS, "true");
        all.put(RabbitMqConfig.TLS_TRUST_STORE, store.toString());
        all.put(RabbitMqConfig.TLS_TRUST_STORE_PASSWORD, "changeit");
        all.put(RabbitMqConfig.TLS_KEY_STORE, store.toString());
        all.put(RabbitMqConfig.TLS_KEY_STORE_PASSWORD, "changeit");
        all.put(RabbitMqConfig.TLS_VERIFY_HOSTNAME, "false");
        all.put(RabbitMqConfig.TOPOLOGY_PREFIX, "p.");
        all.put(RabbitMqConfig.QUEUE_TYPE, "classic");
        all.put(RabbitMqConfig.PREFETCH, "7");
        all.put(RabbitMqConfig.MAX_PRIORITY, "3");
        all.put(RabbitMqConfig.CONFIRM_WINDOW, "9");
        all.put(RabbitMqConfig.PUBLISH_TIMEOUT, "11s");
        all.put(RabbitMqConfig.PUBLISH_MAX_BLOCK, "700ms");
        all.put(RabbitMqConfig.MANDATORY, "false");
        all.put(RabbitMqConfig.DELIVERY_LIMIT, "4");
        all.put(RabbitMqConfig.KEY_ORDER, "false");
        all.put(RabbitMqConfig.SHARDS, "5");
        all.put(RabbitMqConfig.REBALANCE_INTERVAL, "3s");
        all.put(RabbitMqConfig.RECOVERY_INTERVAL, "4s");
        all.put(RabbitMqConfig.HEARTBEAT, "6s");
        all.put(RabbitMqConfig.CONNECTION_TIMEOUT, "2s");
        assertThat(all.keySet()).containsExactlyInAnyOrderElementsOf(new RabbitMqTransportProvider().configKeys());
        RabbitMqConfig c = RabbitMqConfig.from(new TransportContext("svc", all));
        assertThat(c.host()).isEqualTo("other-host");
        assertThat(c.port()).isEqualTo(5998);
        assertThat(c.username()).isEqualTo("bob");
        assertThat(c.virtualHost()).isEqualTo("vh");
        assertThat(c.tls()).isTrue();
        assertThat(c.keyStore()).isEqualTo(store);
        assertThat(c.verifyHostname()).isFalse();
        assertThat(c.prefetch()).isEqualTo(7);
        assertThat(c.confirmWindow()).isEqualTo(9);
        assertThat(c.publishMaxBlock()).isEqualTo(Duration.ofMillis(700));
        assertThat(c.mandatory()).isFalse();
        assertThat(c.deliveryLimit()).isEqualTo(4);
        assertThat(c.shards()).isEqualTo(5);
        assertThat(c.rebalanceInterval()).isEqualTo(Duration.ofSeconds(3));
        assertThat(c.recoveryInterval()).isEqualTo(Duration.ofSeconds(4));
        assertThat(c.heartbeat()).isEqualTo(Duration.ofSeconds(6));
        assertThat(c.connectionTimeout()).isEqualTo(Duration.ofSeconds(2));
        assertThatThrownBy(() -> RabbitMqConfig.from(new TransportContext("s", Map.of(RabbitMqConfig.PUBLISH_MAX_BLOCK, "0ms"))))
                .isInstanceOf(ConfigException.class).hasMessageContaining(RabbitMqConfig.PUBLISH_MAX_BLOCK);
    }
}
