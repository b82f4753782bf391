package dev.eventbus.examples.metrics;

import com.sun.net.httpserver.HttpServer;
import dev.eventbus.EventBus;
import dev.eventbus.RetryPolicy;
import dev.eventbus.examples.OrderFlow;
import dev.eventbus.micrometer.EventBusMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * The order flow ({@link OrderFlow}) with its meters served at {@code http://localhost:<port>/metrics} in the
 * Prometheus text format, from Micrometer's Prometheus registry on the JDK's own HTTP server.
 *
 * <pre>
 * mvn -pl examples exec:java -Dexec.mainClass=dev.eventbus.examples.metrics.MetricsOrderFlow -Dexec.args="9464 60"
 * curl -s localhost:9464/metrics | grep eventbus_
 * </pre>
 *
 * Arguments: the port (default 9464; 0 picks a free one) and how many seconds to keep serving after the flow
 * (default 30). The bus is in memory and serializes its events (so the handlings are timed as on a broker; a plain
 * synchronous in-memory bus is only counted, which keeps it as fast as without metrics). Exits with 1 if the flow
 * failed.
 */
public final class MetricsOrderFlow implements AutoCloseable {

    private final PrometheusMeterRegistry registry;
    private final HttpServer server;
    private final EventBus bus;
    private final EventBusMetrics metrics;

    private MetricsOrderFlow(int port) throws IOException {
        this.registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        this.server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        server.createContext("/metrics", exchange -> {
            byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
        this.bus = EventBus.builder().service("shop").serializeInMemory(true)
                .retryPolicy(RetryPolicy.builder().maxAttempts(3).immediateRetries(1)
                        .initialDelay(Duration.ofMillis(100)).maxDelay(Duration.ofMillis(100)).build())
                .build();
        this.metrics = EventBusMetrics.bind(bus, registry); // the one line
    }

    /** Starts the registry, the HTTP server on {@code port} (0: any free one) and a metered bus. */
    public static MetricsOrderFlow start(int port) throws IOException {
        return new MetricsOrderFlow(port);
    }

    /** The URL of the metrics endpoint. */
    public String metricsUrl() {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/metrics";
    }

    /** Runs the order flow on the metered bus; true when every step happened. */
    public boolean runFlow() throws InterruptedException {
        return OrderFlow.run(bus);
    }

    @Override
    public void close() {
        metrics.close();
        bus.close();
        server.stop(0);
        registry.close();
    }

    public static void main(String[] args) throws Exception {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 9464;
        int seconds = args.length > 1 ? Integer.parseInt(args[1]) : 30;
        boolean ok;
        try (MetricsOrderFlow app = start(port)) {
            System.out.println("Metrics at " + app.metricsUrl());
            ok = app.runFlow();
            System.out.println("\nServing " + app.metricsUrl() + " for " + seconds + " s more");
            Thread.sleep(seconds * 1000L);
        }
        if (!ok) {
            System.exit(1);
        }
    }
}
