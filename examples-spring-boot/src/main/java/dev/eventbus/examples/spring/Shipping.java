package dev.eventbus.examples.spring;

import dev.eventbus.Subscribe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A subscriber bean: the starter registers its @Subscribe methods when the application starts. */
@Component
public class Shipping {

    private static final Logger log = LoggerFactory.getLogger(Shipping.class);

    private final List<String> shipped = new CopyOnWriteArrayList<>();

    @Subscribe
    public void on(OrderPlaced event) {
        log.info("shipping order {} for {} ({} cents)", event.orderId(), event.customer(), event.totalCents());
        shipped.add(event.orderId());
    }

    public List<String> shipped() {
        return List.copyOf(shipped);
    }
}
