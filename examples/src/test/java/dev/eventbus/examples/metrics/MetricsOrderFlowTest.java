package dev.eventbus.examples.metrics;

import org.junit.jupiter.api.Test;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

class MetricsOrderFlowTest {

    @Test
    void scrapingMetricsOverHttpShowsTheOrderFlow() throws Exception {
        try (MetricsOrderFlow app = MetricsOrderFlow.start(0)) {
            assertThat(app.runFlow()).as("the order flow completes").isTrue();
            Thread.sleep(50); // past the 20 ms snapshot of the bus's counters
            HttpResponse<String> r = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create(app.metricsUrl())).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.headers().firstValue("Content-Type").orElse("")).startsWith("text/plain");
            String body = r.body();

            // 3 OrderPlaced + 3 StockReserved.
            assertThat(value(body, "eventbus_published_total", "eventbus_service=\"shop\"")).isEqualTo(6);
            // order-1 fails once in inventory (retried at once); order-3's mail fails twice at once, once more
            // after a delayed redelivery, then is dead-lettered.
            assertThat(value(body, "eventbus_handling_failures_total", "")).isEqualTo(4);
            assertThat(value(body, "eventbus_retries_total", "")).isEqualTo(1);
            assertThat(value(body, "eventbus_dead_letters_total", "")).isEqualTo(1);
            assertThat(value(body, "messaging_process_duration_seconds_count",
                    "messaging_consumer_group_name=\"notifications\"", "outcome=\"dead\"")).isEqualTo(1);
            assertThat(value(body, "messaging_process_duration_seconds_count",
                    "messaging_consumer_group_name=\"inventory\"", "outcome=\"retry\"")).isEqualTo(1);
            // Notifications: order-1, order-2, then order-3 after the replay.
            assertThat(value(body, "messaging_process_duration_seconds_count",
                    "messaging_consumer_group_name=\"notifications\"", "outcome=\"ack\"",
                    "cloudevents_event_type=\"order.placed\"")).isEqualTo(3);
            assertThat(value(body, "messaging_client_operation_duration_seconds_count",
                    "cloudevents_event_type=\"stock.reserved\"", "outcome=\"success\"")).isEqualTo(3);
            assertThat(value(body, "eventbus_dispatch_queued", "")).isZero();
        }
    }

    /** The sum of the samples of {@code name} whose labels contain every one of {@code labels}. */
    private static double value(String body, String name, String... labels) {
        Pattern line = Pattern.compile("^" + Pattern.quote(name) + "(\\{[^}]*\\})? ([0-9.eE+-]+)$", Pattern.MULTILINE);
        Matcher m = line.matcher(body);
        double sum = 0;
        boolean found = false;
        while (m.find()) {
            String l = m.group(1) == null ? "" : m.group(1);
            boolean all = true;
            for (String want : labels) {
                all &= want.isEmpty() || l.contains(want);
            }
            if (all) {
                sum += Double.parseDouble(m.group(2));
                found = true;
            }
        }
        assertThat(found).as("a sample of %s with %s in:%n%s", name, String.join(",", labels), body).isTrue();
        return sum;
    }
}
