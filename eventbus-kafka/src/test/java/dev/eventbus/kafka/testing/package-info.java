/**
 * A real Kafka broker (KRaft) inside the test JVM, {@link dev.eventbus.kafka.testing.TestKafkaBroker}, shipped in
 * this module's test-jar for the examples and benchmarks.
 */
package dev.eventbus.kafka.testing;
