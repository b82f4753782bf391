package dev.eventbus;

import dev.eventbus.spi.Transport;
import dev.eventbus.testkit.HostileInputContract;

import java.time.Duration;

/** The in-memory transport passes the hostile-input contract. */
class InMemoryHostileInputTest extends HostileInputContract {

    @Override
    protected Transport newTransport() {
        return new InMemoryTransport(8, 256, OverflowPolicy.BLOCK, Duration.ofSeconds(5));
    }
}
