package dev.eventbus;

import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class FilterTest {

    @Test
    void parsesWhatItPrintsWithAndBindingTighterThanOr() {
        Filter f = Filter.parse("region = eu and type in (order.placed, 'order shipped') or priority = high");
        assertThat(f).hasToString("region = eu and type in (order.placed, 'order shipped') or priority = high");
        assertThat(Filter.parse(f.toString())).isEqualTo(f);
        assertThat(f.matches(Map.of("region", "eu", "type", "order shipped"))).isTrue();
        assertThat(f.matches(Map.of("region", "eu", "type", "order.cancelled"))).isFalse();
        assertThat(f.matches(Map.of("priority", "high"))).isTrue();
        assertThat(f.matches(Map.of())).isFalse();
    }

    @Test
    void negationExistenceAndParentheses() {
        Filter f = Filter.parse("not (region = eu or region = us) and tier exists");
        assertThat(f.matches(Map.of("region", "ap", "tier", "gold"))).isTrue();
        assertThat(f.matches(Map.of("region", "eu", "tier", "gold"))).isFalse();
        assertThat(f.matches(Map.of("region", "ap"))).isFalse();
        assertThat(Filter.parse("region != eu").matches(Map.of("region", "us"))).isTrue();
        assertThat(Filter.parse(f.toString())).isEqualTo(f);
    }

    @Test
    void typedBuildersMatchTheParsedForm() {
        Filter built = Filter.header("region", "eu").and(Filter.type("order.placed")).or(Filter.exists("vip"));
        assertThat(built).isEqualTo(Filter.parse("region = eu and type = order.placed or vip exists"));
        assertThat(Filter.all().and(built)).isSameAs(built);
        assertThat(built.or(Filter.all())).isSameAs(Filter.all());
    }

    @Test
    void typesArePushedDownOnlyWhenTheFilterConfinesThem() {
        assertThat(Filter.type("a", "b").types()).isEqualTo(Set.of("a", "b"));
        assertThat(Filter.type("a", "b").and(Filter.header("region", "eu")).types()).isEqualTo(Set.of("a", "b"));
        assertThat(Filter.type("a", "b").and(Filter.type("b", "c")).types()).isEqualTo(Set.of("b"));
        assertThat(Filter.type("a").or(Filter.type("c")).types()).isEqualTo(Set.of("a", "c"));
        assertThat(Filter.type("a").or(Filter.header("region", "eu")).types()).isNull();
        assertThat(Filter.type("a").negate().types()).isNull();
        assertThat(Filter.header("region", "eu").types()).isNull();
    }

    @Test
    void matchesEnvelopesByTheSameNames() {
        Envelope<String> e = new Envelope<>("id-1", "order.placed", 1, "/shop", (java.time.Instant) null, "o-1", "application/json",
                null, null, null, Map.of("region", "eu"), "orders", 1, "event");
        assertThat(Filter.parse("type = order.placed and subject = o-1 and source = /shop and region = eu")
                .matches(e)).isTrue();
        assertThat(Filter.parse("correlationid = id-1").matches(e)).isTrue();
        assertThat(Filter.subject("o-2").matches(e)).isFalse();
    }

    @Test
    void malformedExpressionsSayWhere() {
        assertThatThrownBy(() -> Filter.parse("region = eu and")).hasMessageContaining("expected a header name before the end");
        assertThatThrownBy(() -> Filter.parse("region eu")).hasMessageContaining("expected '=', '!=', 'in' or 'exists' after 'region'");
        assertThatThrownBy(() -> Filter.parse("(region = eu")).hasMessageContaining("expected ')'");
        assertThatThrownBy(() -> Filter.parse("region = 'eu")).hasMessageContaining("unclosed quote");
        assertThatThrownBy(() -> Filter.parse("region = eu ; drop")).hasMessageContaining("unexpected ';' at 12");
        assertThatThrownBy(() -> Filter.header("region")).hasMessageContaining("at least one value");
    }
}
