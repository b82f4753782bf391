package dev.eventbus;

import java.util.Objects;
import java.util.concurrent.CompletionException;
import java.util.function.Function;

/**
 * A translation of one event type into another, published to another stream (and so, by the bus's routes, maybe
 * another transport): the anti-corruption layer between your events and a partner's.
 *
 * <pre>{@code
 * bus.translate(OrderPlaced.class, e -> new PartnerOrder(e.orderId(), e.cents() / 100.0))
 *    .group("partner-gateway")                  // optional
 *    .to("partner-orders");                     // starts it; eventbus.route.stream.partner-orders=kafka routes it
 * }</pre>
 *
 * <h2>What it does</h2>
 * It subscribes to the source type in its own consumer group (default {@code <service>-to-<stream>}), so it sees
 * every source event whatever else subscribes, and for each one publishes {@code mapping}'s result to the stream,
 * waiting until the transport accepted it. The translated event is the source event's child: same correlation id,
 * causation id = the source event's id, same {@code traceparent}. Its key is its own {@link Event#eventKey()} when
 * it has one, else the source event's key, so per-key order carries over. A mapping that returns {@code null} sends
 * nothing for that event (a filter). A mapping that throws, or a publish that fails, is a subscriber failure: the
 * group's retry ladder, then the dead letters, with the reason.
 *
 * <h2>Thread-safety and lifecycle</h2>
 * Configure on one thread, then call {@link #to} once; the mapping is called from the bus's consumer threads, so it
 * must be thread-safe (a pure function is). The translation runs until its {@link Registration} is closed or the
 * bus closes.
 *
 * @param <S> the source event type
 * @param <T> the translated event type
 */
public final class Translation<S, T> {

    private final EventBus bus;
    private final Class<S> source;
    private final Function<? super S, ? extends T> mapping;
    private String group;
    private boolean started;

    Translation(EventBus bus, Class<S> source, Function<? super S, ? extends T> mapping) {
        this.bus = Objects.requireNonNull(bus, "bus");
        this.source = Objects.requireNonNull(source, "source");
        this.mapping = Objects.requireNonNull(mapping, "mapping");
    }

    /** The consumer group of the translation; default {@code <service>-to-<stream>}. */
    public Translation<S, T> group(String group) {
        if (group == null || group.isBlank()) {
            throw new IllegalArgumentException("a translation's group must not be blank");
        }
        this.group = group;
        return this;
    }

    /**
     * Starts translating to {@code stream}. Blocks until the transports have the subscription.
     *
     * @return a handle that stops it
     * @throws IllegalStateException if already started, or the bus is closed
     */
    public Registration to(String stream) {
        if (stream == null || stream.isBlank()) {
            throw new IllegalArgumentException("a translation needs a target stream");
        }
        if (started) {
            throw new IllegalStateException("translation of " + source.getName() + " already started");
        }
        started = true;
        String g = group != null ? group : bus.serviceName() + "-to-" + stream;
        return bus.subscribeEnvelopes(source, g, envelope -> translate(envelope, stream));
    }

    private void translate(Envelope<S> envelope, String stream) throws Exception {
        T target = mapping.apply(envelope.event());
        if (target == null) {
            return;
        }
        PublishOptions.Builder options = PublishOptions.builder().stream(stream);
        boolean ownKey = target instanceof Event e && e.eventKey() != null;
        if (!ownKey && envelope.subject() != null) {
            options.key(envelope.subject());
        }
        try {
            // Published from the handler: the bus makes it the source event's child (correlation, causation, trace).
            bus.publish(target, options.build()).join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof Exception cause) {
                throw cause; // its own type, so the retry policy can tell transient from fatal
            }
            throw e;
        }
    }

    @Override
    public String toString() {
        return "Translation{" + source.getName() + (group == null ? "" : ", group " + group) + '}';
    }
}
