/**
 * The transport test kit, shipped in core's test-jar: {@link dev.eventbus.testkit.TransportContract}, the contract
 * suite every transport runs (publish and consume, groups, per-key order, retry, dead letters, redelivery after a
 * crash, close; batch subscribers and filters through a whole bus, in {@code FlowContract}), with flags for what a
 * transport cannot do, and its {@link dev.eventbus.testkit.Recorder}.
 */
package dev.eventbus.testkit;
