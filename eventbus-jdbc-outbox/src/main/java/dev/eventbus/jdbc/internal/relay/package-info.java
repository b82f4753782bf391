/**
 * The steps of an outbox relay round, driven by {@code dev.eventbus.jdbc.OutboxRelay} on its own thread:
 * {@link dev.eventbus.jdbc.internal.relay.Claims} (which rows of the leased partitions go now, in id order, a key
 * held while an older row of it waits), {@link dev.eventbus.jdbc.internal.relay.Sends} (to the target, chained per
 * key, bounded by the send timeout, late answers remembered) and
 * {@link dev.eventbus.jdbc.internal.relay.Bookkeeping} (published, failed with backoff, abandoned, outages;
 * retention). {@link dev.eventbus.jdbc.internal.relay.RelaySettings} holds the configuration,
 * {@link dev.eventbus.jdbc.internal.relay.RelayRow} one claimed row. Internal; not an API.
 */
package dev.eventbus.jdbc.internal.relay;
