/**
 * Internals of the JDBC module; not an API, may change in any release.
 *
 * <p>The JDBC transport, in the order a message travels:
 * <ol>
 *   <li>{@link dev.eventbus.jdbc.internal.LogAppender} appends sends to the log table (one writer thread, group
 *       commit), taking gapless, commit-ordered sequence numbers from the stream's row in {@code <prefix>stream};
 *       {@link dev.eventbus.jdbc.internal.Wakeups} and {@link dev.eventbus.jdbc.internal.PgListener}
 *       ({@code LISTEN/NOTIFY}) wake consumers.</li>
 *   <li>{@link dev.eventbus.jdbc.internal.LogSubscription} is one group's subscription on one instance: a poller
 *       that takes its share of the stream's partitions ({@link dev.eventbus.jdbc.internal.PartitionLeases}),
 *       reads ({@link dev.eventbus.jdbc.internal.LogFetcher}), delivers on per-key lanes
 *       ({@link dev.eventbus.jdbc.internal.LogDispatcher}, {@link dev.eventbus.jdbc.internal.Lanes}) and commits
 *       cursors with the retry and dead-letter writes ({@link dev.eventbus.jdbc.internal.CursorCommitter}), all
 *       sharing one {@link dev.eventbus.jdbc.internal.SubscriptionState}.</li>
 *   <li>{@link dev.eventbus.jdbc.internal.LogDeadLetters} lists and replays dead letters;
 *       {@link dev.eventbus.jdbc.internal.LogRetention} trims what every group has read.</li>
 * </ol>
 *
 * <p>Shared by the transport, the outbox and the inbox: {@link dev.eventbus.jdbc.internal.PartitionLeases} and
 * {@link dev.eventbus.jdbc.internal.Leasing} (partitions shared among live members, holder ids),
 * {@link dev.eventbus.jdbc.internal.Rows} and {@link dev.eventbus.jdbc.internal.HeaderCodec} (the wire mapping),
 * {@link dev.eventbus.jdbc.internal.Schema} (DDL resources and table probes),
 * {@link dev.eventbus.jdbc.internal.Jdbc} and {@link dev.eventbus.jdbc.internal.Sql} (transactions, dialect
 * differences), {@link dev.eventbus.jdbc.internal.DriverManagerDataSource} (what {@code eventbus.jdbc.url}
 * builds) and {@link dev.eventbus.jdbc.internal.H2Durability}.
 */
package dev.eventbus.jdbc.internal;
