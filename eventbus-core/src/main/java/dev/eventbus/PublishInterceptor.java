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
    }
}
