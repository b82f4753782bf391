package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.ShutdownSignalException;
import com.rabbitmq.client.TopologyRecoveryException;
import com.rabbitmq.client.impl.DefaultExceptionHandler;
import com.rabbitmq.client.impl.recovery.RecordedConsumer;
import com.rabbitmq.client.impl.recovery.RecordedQueue;
import com.rabbitmq.client.impl.recovery.TopologyRecoveryFilter;
import dev.eventbus.ConfigException;
import dev.eventbus.EventBusException;
import dev.eventbus.rabbitmq.RabbitMqConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeoutException;

/** Opens AMQP connections from a {@link RabbitMqConfig} and turns broker errors into sentences. */
public final class Connections {

    private static final Logger log = LoggerFactory.getLogger(Connections.class);

    /** Consumer tags of shard consumers: recovered by the balancer, never automatically (ownership may have moved). */
    public static final String SHARD_TAG_PREFIX = "eventbus-shard-";

    private Connections() {
    }

    /**
     * A connection factory with automatic connection and topology recovery. Broker calls (declarations, channel
     * opens) give up after {@code rpcTimeout} instead of amqp-client's ten minutes, so a broker that stopped
     * answering is reported, not waited for.
     */
    public static ConnectionFactory factory(RabbitMqConfig config, java.time.Duration rpcTimeout) {
        ConnectionFactory f = new ConnectionFactory();
        f.setHost(config.host());
        f.setPort(config.port());
        f.setUsername(config.username());
        f.setPassword(config.password());
        f.setVirtualHost(config.virtualHost());
        f.setAutomaticRecoveryEnabled(true);
        f.setTopologyRecoveryEnabled(true);
        f.setNetworkRecoveryInterval(config.recoveryInterval().toMillis());
        f.setRequestedHeartbeat((int) Math.min(Integer.MAX_VALUE / 1000, config.heartbeat().toSeconds()));
        f.setConnectionTimeout((int) Math.min(Integer.MAX_VALUE, config.connectionTimeout().toMillis()));
        // amqp-client waits half the handshake timeout for the broker's first frame: doubled, a broker that accepts
        // but never speaks is reported after connection-timeout, as documented.
        f.setHandshakeTimeout((int) Math.min(Integer.MAX_VALUE, 2 * config.connectionTimeout().toMillis()));
        f.setChannelRpcTimeout((int) Math.min(Integer.MAX_VALUE, Math.max(1, rpcTimeout.toMillis())));
        f.setTopologyRecoveryFilter(new TopologyRecoveryFilter() {
            @Override
            public boolean filterQueue(RecordedQueue queue) {
                return !queue.getName().endsWith(".lock");
            }

            @Override
            public boolean filterConsumer(RecordedConsumer consumer) {
                return !consumer.getConsumerTag().startsWith(SHARD_TAG_PREFIX);
            }
        });
        f.setExceptionHandler(new DefaultExceptionHandler() {
            @Override
            public void handleTopologyRecoveryException(Connection conn, com.rabbitmq.client.Channel ch,
                                                        TopologyRecoveryException exception) {
                log.warn("RabbitMQ topology recovery: {}", exception.getMessage());
            }
        });
        if (config.tls()) {
            f.useSslProtocol(sslContext(config));
            if (config.verifyHostname()) {
                f.enableHostnameVerification();
            }
        }
        return f;
    }

    static SSLContext sslContext(RabbitMqConfig config) {
        try {
            TrustManagerFactory tmf = null;
            if (config.trustStore() != null) {
                tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
                tmf.init(load(config.trustStore(), config.trustStorePassword(), RabbitMqConfig.TLS_TRUST_STORE));
            }
            KeyManagerFactory kmf = null;
            if (config.keyStore() != null) {
                kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
                String pw = config.keyStorePassword();
                kmf.init(load(config.keyStore(), pw, RabbitMqConfig.TLS_KEY_STORE), pw == null ? new char[0] : pw.toCharArray());
            }
            if (tmf == null && kmf == null) {
                return SSLContext.getDefault();
            }
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf == null ? null : kmf.getKeyManagers(), tmf == null ? null : tmf.getTrustManagers(), null);
            return ctx;
        } catch (GeneralSecurityException e) {
            throw new ConfigException(RabbitMqConfig.TLS, "TLS set-up failed: " + e.getMessage(), e);
        }
    }

    private static KeyStore load(Path file, String password, String key) {
        char[] pw = password == null ? null : password.toCharArray();
        for (String type : new String[]{"PKCS12", "JKS"}) {
            try (InputStream in = Files.newInputStream(file)) {
                KeyStore ks = KeyStore.getInstance(type);
                ks.load(in, pw);
                return ks;
            } catch (IOException | GeneralSecurityException e) {
                // try the next type; report below
            }
        }
        throw new ConfigException(key, file.toString(),
                "a PKCS12 or JKS key store that opens with the configured password");
    }

    /**
     * Opens a connection named {@code name}.
     *
     * @throws EventBusException (retriable) saying where it tried to connect and how to start a local broker
     */
    public static Connection open(ConnectionFactory factory, RabbitMqConfig config, ExecutorService executor,
                                  String name) {
        try {
            return factory.newConnection(executor, name);
        } catch (com.rabbitmq.client.AuthenticationFailureException e) {
            throw new EventBusException("RabbitMQ at " + config.describeBroker() + " refused the credentials ("
                    + describe(e) + "); check " + RabbitMqConfig.USERNAME + " and " + RabbitMqConfig.PASSWORD
                    + " (or the user in " + RabbitMqConfig.URI + ")", e, false);
        } catch (IOException | TimeoutException e) {
            boolean silent = e instanceof TimeoutException || rootCause(e) instanceof java.net.SocketTimeoutException;
            throw new EventBusException("Cannot connect to RabbitMQ at " + config.describeBroker() + " (from "
                    + RabbitMqConfig.URI + " or " + RabbitMqConfig.HOST + "/" + RabbitMqConfig.PORT + "): "
                    + (silent ? "no answer within " + RabbitMqConfig.CONNECTION_TIMEOUT + "="
                    + config.connectionTimeout().toMillis() + "ms (" + describe(e) + ")" : describe(e))
                    + ". Is the server running (for a local one: rabbitmq-server -detached)?", e, true);
        }
    }

    /** A broker error as a sentence: the reply text of a channel or connection close, or the exception's message. */
    public static String describe(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ShutdownSignalException sse) {
                Object reason = sse.getReason();
                if (reason instanceof AMQP.Channel.Close c) {
                    return c.getReplyText();
                }
                if (reason instanceof AMQP.Connection.Close c) {
                    return c.getReplyText();
                }
                return String.valueOf(sse.getMessage());
            }
        }
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String msg = root.getMessage();
        return root.getClass().getSimpleName() + (msg == null ? "" : ": " + msg);
    }

    private static Throwable rootCause(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root;
    }

    /** The AMQP reply code of a channel/connection close behind {@code e}, or 0. */
    public static int replyCode(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ShutdownSignalException sse) {
                Object reason = sse.getReason();
                if (reason instanceof AMQP.Channel.Close c) {
                    return c.getReplyCode();
                }
                if (reason instanceof AMQP.Connection.Close c) {
                    return c.getReplyCode();
                }
            }
        }
        return 0;
    }
}
