package dev.eventbus;

import dev.eventbus.spi.Transport;
import dev.eventbus.spi.TransportContext;
import dev.eventbus.spi.TransportProvider;

import java.time.Duration;
import java.util.Collection;
import java.util.List;

/**
 * A transport provider for core's configuration tests, registered in the test classpath's
 * {@code META-INF/services}: declares two keys of its own and passes {@code eventbus.loopback.client.*} through, as
 * Kafka's provider does with its client's settings. Its transport is an in-memory one.
 */
public final class LoopbackTransportProvider implements TransportProvider {

    static final String URI = "eventbus.loopback.uri";
    static final String KEY_ORDER = "eventbus.loopback.key-order";
    static final String CLIENT_PREFIX = "eventbus.loopback.client.";

    @Override
    public String name() {
        return "loopback";
    }

    @Override
    public Collection<String> configKeys() {
        return List.of(URI, KEY_ORDER);
    }

    @Override
    public boolean acceptsKey(String key) {
        return configKeys().contains(key) || key.startsWith(CLIENT_PREFIX) && key.length() > CLIENT_PREFIX.length();
    }

    @Override
    public Transport create(TransportContext context) {
        context.getBoolean(KEY_ORDER, true); // read, so that a bad value fails the build naming the key
        return new InMemoryTransport(4, 64, OverflowPolicy.FAIL, Duration.ofSeconds(1));
    }
}
