/**
 * Machinery shared by core and the transport modules; not API: it may change in any release.
 *
 * <ul>
 *   <li>{@link dev.eventbus.internal.KeyedLanes}: bounded lanes that keep per-key order, with an overflow
 *       policy (the async local dispatch and the in-memory transport).</li>
 *   <li>{@link dev.eventbus.internal.Invokers}: binds a subscriber method once to a generated invoker
 *       ({@code LambdaMetafactory}), so no call goes through reflection.</li>
 *   <li>{@link dev.eventbus.internal.Uuid7}, {@link dev.eventbus.internal.Timestamps},
 *       {@link dev.eventbus.internal.HeaderMap}: ids, times and header maps made cheaply.</li>
 *   <li>{@link dev.eventbus.internal.ConfigSources} (file, system properties, environment) and
 *       {@link dev.eventbus.internal.ConfigKeys} (which keys exist, "did you mean").</li>
 *   <li>{@link dev.eventbus.internal.DuplicateCounter}: how the JDBC inbox counts a duplicate on the bus.</li>
 *   <li>{@link dev.eventbus.internal.InMemoryTransportProvider}: {@code eventbus.transport=memory}.</li>
 * </ul>
 */
package dev.eventbus.internal;
