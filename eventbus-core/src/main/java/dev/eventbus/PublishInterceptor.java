package dev.eventbus;

import java.util.concurrent.CompletableFuture;

/**
 * Wraps every publish, OkHttp style: look at or change the envelope, call {@link Chain#proceed} exactly once to
 * pass it on, and return (or decorate) the resulting future. The bus's own work (serialization and the send) is
 * the last link of the chain.
 *
 * <pre>{@code
 * PublishInterceptor tracing = chain -> chain.proceed(chain.envelope().withTraceparent(currentTrace()));
 * }</pre>
 *
 * <p>Runs on the publishing thread. Must be thread-safe. An exception thrown here fails the publish (the
 * caller sees it), since nothing was sent.
 */
@FunctionalInterface
public interface PublishInterceptor {

    CompletableFuture<Void> intercept(Chain chain);

    /** The rest of the chain. Call {@link #proceed} once; a second call throws {@link IllegalStateException}. */
    interface Chain {
        Envelope<?> envelope();

        CompletableFuture<Void> proceed(Envelope<?> envelope);

        /** The name of the transport the event is routed to, e.g. {@code memory} or {@code kafka}; null if unknown. */
        default String transport() {
            return null;
        }

        /**
         * Runs {@code listener} once this publish's send completed (accepted or failed), on the thread that completes
         * it (the publisher's in memory, a transport's I/O thread on a broker), before the future the publish
         * returns completes. Cheaper than a completion stage of one's own: the bus runs every listener and its
         * {@link EventBusObserver}s in the one stage it adds anyway, so a tracing interceptor ends its span without a
         * future and a stage per publish. Call it from {@link PublishInterceptor#intercept}, after
         * {@link #proceed} returned (a send that threw out of {@code proceed} reaches no listener: the exception is
         * the interceptor's to see). A listener must be fast and must not block; an exception it throws is logged
         * and ignored.
         *
         * @throws UnsupportedOperationException from a chain the bus did not make
         */
        default void whenSent(SendListener listener) {
            throw new UnsupportedOperationException("whenSent is supported on the bus's own publish chain only");
        }
    }

    /** Told that a publish's send completed; see {@link Chain#whenSent}. */
    @FunctionalInterface
    interface SendListener {
        /** @param failure why the send failed (a {@code CompletionException} unwrapped), or null when it succeeded */
        void sent(Throwable failure);
    }
}
