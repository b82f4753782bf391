/**
 * The public API of the event bus, and the package-private parts behind it.
 *
 * <h2>For users</h2>
 * {@link dev.eventbus.EventBus} (built with {@link dev.eventbus.EventBus#builder()} or
 * {@link dev.eventbus.EventBus#fromConfig()}), {@link dev.eventbus.Subscribe}, {@link dev.eventbus.EventType},
 * {@link dev.eventbus.Event}, {@link dev.eventbus.Envelope}, {@link dev.eventbus.PublishOptions},
 * {@link dev.eventbus.RetryPolicy}, the interceptors ({@link dev.eventbus.PublishInterceptor},
 * {@link dev.eventbus.ConsumeInterceptor}, {@link dev.eventbus.Interceptors}), serialization
 * ({@link dev.eventbus.Serializer}, {@link dev.eventbus.JsonSerializer}, {@link dev.eventbus.Upcaster}),
 * {@link dev.eventbus.DeadLetters}, replay ({@link dev.eventbus.ReplayFrom}, {@link dev.eventbus.ReplayResult},
 * {@link dev.eventbus.ReplayNotSupportedException}), the configuration keys ({@link dev.eventbus.EventBusConfig}) and the in-memory
 * transport ({@link dev.eventbus.InMemoryTransport}). Exceptions descend from {@link dev.eventbus.EventBusException}.
 *
 * <h2>How it works</h2>
 * {@code EventBus} is the front door only; each part below is package-private and has one job. In the order an
 * event meets them:
 * <ol>
 *   <li>{@code BusSetup}: what {@code build()} does first: every setting resolved (builder, else configuration,
 *       else default), keys checked ({@code internal.ConfigKeys}), transports created.</li>
 *   <li>{@code Routes} / {@code Route}: which transport an event class goes to, one route per class.</li>
 *     <li>{@code FastPath}: the synchronous in-memory publish without options or interceptors, from the route
 *       (an inline cache of the last two) straight to the class's generated {@code Dispatcher} (a hidden class per
 *       subscriber list, from {@code DispatcherTemplate}), in a {@code DispatchContext} frame that is a depth
 *       counter, counted on the thread's own state. {@code EventBus} extends it, so that this state sits in the bus
 *       object itself (one dependent load less per publish).</li>
 *   <li>{@code LocalDispatch}: the rest of local dispatch: with options or interceptors (a lazily built envelope),
 *       and async dispatch on per-key lanes.</li>
  <li>{@code Publisher}: every other publish: envelope ({@code Envelopes}), publish interceptors, then the bus's
 *       own last link: in memory to {@code LocalDispatch}, else encode and {@code Transport.send}.</li>
 *   <li>{@code Subscriptions}: registration ({@code Subscriber.scan} binds each method once to a generated
 *       invoker; {@code SubscriberRegistry} keeps who takes what) and one transport subscription per
 *       (transport, group, stream).</li>
 *   <li>{@code GroupDispatcher}: a transport's delivery for one group: type check by header, decode of
 *       registered types only, each subscriber through the consume interceptors ({@code ConsumeChain}), immediate
 *       retries, then one outcome: ACK, RETRY or DEAD.</li>
 *   <li>{@code FailureHandling}: the exception handler, and the retry ladder and dead letters of local
 *       deliveries (delayed retries go through the in-memory transport, so the transport path takes over).</li>
 * </ol>
 * {@code Replays} is {@link dev.eventbus.EventBus#replay}: the group's streams from {@code Subscriptions}, each moved
 * through its transport.
 * {@code Counters} and the per-thread counts of {@code FastPath} make up {@link dev.eventbus.EventBus#stats()}.
 *
 * <p>Thread-safety, blocking, lifecycle and exceptions are stated on each public type.
 */
package dev.eventbus;
