package dev.eventbus;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The per-class dispatchers: one hidden class per subscriber list, every slot filled or skipped correctly. */
class DispatcherTest {

    private static Subscriber[] subscribers(int n, List<String> calls) {
        Subscriber[] s = new Subscriber[n];
        for (int i = 0; i < n; i++) {
            String name = "s" + i;
            s[i] = Subscriber.ofLambda(null, name, "g", String.class, 1, e -> calls.add(name + ":" + e));
        }
        return s;
    }

    @Test
    void eachListGetsItsOwnHiddenClass() {
        Dispatcher a = Dispatcher.of(subscribers(2, new ArrayList<>()), 1);
        Dispatcher b = Dispatcher.of(subscribers(2, new ArrayList<>()), 1);
        assertThat(a.getClass().isHidden()).isTrue();
        assertThat(b.getClass()).isNotSameAs(a.getClass());
        assertThat(Dispatcher.of(new Subscriber[0], 1).count).isZero();
    }

    @Test
    void registrationChurnStopsDefiningClassesAfterTheLimit() {
        SubscriberRegistry registry = new SubscriberRegistry();
        SubscriberRegistry.Cached entry = registry.cacheOf(String.class);
        List<String> calls = new ArrayList<>();
        Subscriber[] stable = subscribers(1, calls);
        registry.addAll(List.of(stable));
        for (int i = 1; i <= SubscriberRegistry.OWN_CLASS_LIMIT + 5; i++) {
            List<Subscriber> extra = List.of(subscribers(1, calls));
            registry.addAll(extra);
            Dispatcher d = registry.dispatcherOf(String.class, entry);
            assertThat(d.count).isEqualTo(2);
            assertThat(d.getClass().isHidden()).as("build %d", i).isEqualTo(i <= SubscriberRegistry.OWN_CLASS_LIMIT);
            registry.removeAll(extra);
        }
        Dispatcher last = registry.dispatcherOf(String.class, entry);
        assertThat(last.count).isEqualTo(1);
        assertThat(last).isInstanceOf(DispatcherTemplate.class);
        last.dispatch("y", new DispatchContext(), 0);
        assertThat(calls).containsExactly("s0:y");
    }

    @Test
    void callsEverySubscriberInOrderForEveryListLength() {
        DispatchContext ctx = new DispatchContext();
        for (int n = 1; n <= 15; n++) {
            List<String> calls = new ArrayList<>();
            Dispatcher d = Dispatcher.of(subscribers(n, calls), 1);
            assertThat(d.count).isEqualTo(n);
            d.dispatch("x", ctx, 0);
            List<String> expected = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                expected.add("s" + i + ":x");
            }
            assertThat(calls).as("%d subscribers", n).containsExactlyElementsOf(expected);
        }
    }
}
