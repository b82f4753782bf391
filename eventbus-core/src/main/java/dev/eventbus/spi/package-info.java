/**
 * For transport authors: what a transport implements and what the bus hands it.
 *
 * <p>A {@link dev.eventbus.spi.Transport} sends {@link dev.eventbus.spi.TransportMessage}s (stream, key, headers,
 * body) and, for each {@link dev.eventbus.spi.SubscriptionRequest} (group, stream, wire types), delivers messages to
 * a {@link dev.eventbus.spi.MessageHandler} that answers with an {@link dev.eventbus.spi.Outcome}: ACK, RETRY after
 * a delay, or DEAD. Optional abilities are {@link dev.eventbus.spi.Capability capabilities}. Header names are in
 * {@link dev.eventbus.spi.MessageHeaders} (CloudEvents attributes and the bus's own).
 *
 * <p>A {@link dev.eventbus.spi.TransportProvider}, found with {@link java.util.ServiceLoader}, makes a transport
 * selectable by name ({@code eventbus.transport=<name>}) and declares the keys under {@code eventbus.<name>.}
 * that it reads ({@code configKeys}, {@code acceptsKey}): the bus refuses any other key there. It builds the
 * transport from a {@link dev.eventbus.spi.TransportContext}, whose typed getters fail naming the key.
 *
 * <p>Every transport runs the shared contract suite, {@code dev.eventbus.testkit.TransportContract} in core's
 * test-jar.
 */
package dev.eventbus.spi;
