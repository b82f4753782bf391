package dev.eventbus.rabbitmq;

import dev.eventbus.spi.Transport;
import dev.eventbus.testkit.HostileInputContract;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;

import java.util.ArrayList;
import java.util.List;

/** The RabbitMQ transport passes the hostile-input contract against the real server. */
class RabbitMqHostileInputTest extends HostileInputContract {

    private final List<RabbitMqTestSupport> supports = new ArrayList<>();

    @BeforeAll
    static void broker() {
        RabbitMqTestSupport.requireBroker();
    }

    @AfterEach
    void cleanUp() {
        supports.forEach(RabbitMqTestSupport::cleanUp);
    }

    @Override
    protected Transport newTransport() {
        RabbitMqTestSupport s = new RabbitMqTestSupport(); // a prefix of its own per test
        supports.add(s);
        return s.transport();
    }
}
