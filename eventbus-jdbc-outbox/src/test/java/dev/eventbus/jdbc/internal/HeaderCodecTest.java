package dev.eventbus.jdbc.internal;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class HeaderCodecTest {

    @Test
    void roundTripsEveryCharacterAndSkipsTheColumnHeaders() {
        Map<String, String> h = new LinkedHashMap<>();
        h.put("id", "in-a-column");
        h.put("type", "also-in-a-column");
        h.put("plain", "value");
        h.put("quote\"key", "a \"quoted\" value");
        h.put("slashes", "back\\slash and /forward");
        h.put("controls", "tab\tnew\nline\rcr\u0001bell\u001f");
        h.put("unicode", "ümlaut ☃ 日本");
        h.put("empty", "");
        String json = HeaderCodec.encode(h, "id", "type");
        assertThat(json).doesNotContain("in-a-column");
        Map<String, String> back = HeaderCodec.decode(json);
        Map<String, String> expected = new LinkedHashMap<>(h);
        expected.remove("id");
        expected.remove("type");
        assertThat(back).containsExactlyEntriesOf(expected);
        assertThat(HeaderCodec.decode(" { \"a\" : \"b\" , \"c\":\"\\u0041\\/\" } ")).containsExactly(
                Map.entry("a", "b"), Map.entry("c", "A/"));
        assertThat(HeaderCodec.decode("{}")).isEmpty();
    }

    @Test
    void rejectsWhatIsNotAFlatObjectOfStrings() {
        for (String bad : new String[] {"", "{", "{\"a\"}", "{\"a\":1}", "{\"a\":\"b\",}", "[]", "{\"a\":\"b\"} x",
                "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"unterminated}"}) {
            assertThatThrownBy(() -> HeaderCodec.decode(bad)).as(bad).isInstanceOf(IllegalArgumentException.class);
        }
    }
}
