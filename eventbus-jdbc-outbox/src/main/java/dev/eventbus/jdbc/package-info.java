/**
 * A relational database as the durable heart of the bus, over plain JDBC (the driver and the {@code DataSource}
 * are the application's).
 *
 * <ul>
 *   <li>{@link dev.eventbus.jdbc.Outbox} writes an event with the caller's own {@code Connection}, inside the
 *       caller's transaction; {@link dev.eventbus.jdbc.OutboxRelay} moves committed rows to any transport, in
 *       order per key, with several relays sharing the work through partition leases.</li>
 *   <li>{@link dev.eventbus.jdbc.Inbox} is a consume interceptor that records each handled event in the same
 *       transaction as the handler's database work, so a redelivered event's side effects happen once.</li>
 *   <li>{@link dev.eventbus.jdbc.JdbcTransport} ({@code eventbus.transport=jdbc}, found through
 *       {@link dev.eventbus.jdbc.JdbcTransportProvider}) uses an append-only log table and one cursor per
 *       group as a broker.</li>
 *   <li>{@link dev.eventbus.jdbc.JdbcConfig} lists every {@code eventbus.jdbc.*} key;
 *       {@link dev.eventbus.jdbc.JdbcSchema} gives the DDL per {@link dev.eventbus.jdbc.JdbcDialect}.</li>
 * </ul>
 *
 * <p>This is the module's only public package; the machinery is in {@code dev.eventbus.jdbc.internal} (the log
 * transport, leases, shared JDBC helpers) and {@code dev.eventbus.jdbc.internal.relay} (the relay's steps).
 */
package dev.eventbus.jdbc;
