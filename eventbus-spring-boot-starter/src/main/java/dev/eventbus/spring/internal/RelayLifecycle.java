package dev.eventbus.spring.internal;

import dev.eventbus.EventBus;
import dev.eventbus.jdbc.OutboxRelay;
import org.springframework.context.SmartLifecycle;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import javax.sql.DataSource;

/**
 * Runs the {@link OutboxRelay} of this application: started early ({@link #PHASE}, before the web server and the
 * subscribers) and stopped late (after the web server has drained, so the last requests' rows are still sent).
 *
 * <p>Thread-safe.
 */
public final class RelayLifecycle implements SmartLifecycle {

    /** Below the web server's start/stop phase ({@code DEFAULT_PHASE - 2048}). */
    public static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 4096;

    private final DataSource dataSource;
    private final EventBus bus;
    private final String target;
    private final Map<String, String> config;
    private final Duration closeTimeout;
    private volatile OutboxRelay relay;
    private final List<Consumer<OutboxRelay>> onStart = new CopyOnWriteArrayList<>();
    private final List<Consumer<OutboxRelay>> onStop = new CopyOnWriteArrayList<>();

    public RelayLifecycle(DataSource dataSource, EventBus bus, String target, Map<String, String> config,
                          Duration closeTimeout) {
        this.dataSource = dataSource;
        this.bus = bus;
        this.target = target;
        this.config = config;
        this.closeTimeout = closeTimeout;
    }

    @Override
    public synchronized void start() {
        if (relay == null) {
            relay = OutboxRelay.builder(dataSource, bus.transport(target)).config(config).build();
            onStart.forEach(l -> l.accept(relay));
        }
    }

    @Override
    public synchronized void stop() {
        OutboxRelay r = relay;
        relay = null;
        if (r != null) {
            r.close(closeTimeout);
            onStop.forEach(l -> l.accept(r));
        }
    }

    /**
     * Calls {@code started} with each relay this lifecycle starts (at once with the running one, if any) and
     * {@code stopped} with it after it closed (the metrics binding).
     */
    public synchronized void listen(Consumer<OutboxRelay> started, Consumer<OutboxRelay> stopped) {
        onStart.add(started);
        onStop.add(stopped);
        if (relay != null) {
            started.accept(relay);
        }
    }

    @Override
    public boolean isRunning() {
        return relay != null;
    }

    @Override
    public int getPhase() {
        return PHASE;
    }

    /** The running relay, or null when stopped. */
    public OutboxRelay relay() {
        return relay;
    }

    /** Asks the relay to look for rows now (after a commit). */
    public void wakeUp() {
        OutboxRelay r = relay;
        if (r != null) {
            r.wakeUp();
        }
    }

    /** The relay's target transport's name. */
    public String target() {
        return target;
    }
}
