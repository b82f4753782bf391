package dev.eventbus;

import dev.eventbus.spi.MessageHeaders;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Function;

/**
 * Which events a subscription wants, by their attributes and headers: a predicate read <em>before</em> the body is
 * decoded, so an event a subscriber does not want costs no deserialization. Events it rejects are acknowledged
 * and counted in {@link EventBus.Stats#filtered()}, never retried or dead-lettered.
 *
 * <p>Names are the CloudEvents attribute names the wire carries ({@code type}, {@code source}, {@code subject},
 * {@code id}, {@code datacontenttype}, {@code correlationid}, {@code causationid}, {@code traceparent}) and the
 * free headers given at publish time ({@link PublishOptions}); {@code subject} falls back to the message key.
 * Values compare as exact, case-sensitive strings.
 *
 * <pre>{@code
 * Filter eu = Filter.header("region", "eu");
 * Filter f = eu.and(Filter.type("order.placed", "order.shipped")).or(Filter.header("priority", "high"));
 * Filter same = Filter.parse("region = eu and type in (order.placed, order.shipped) or priority = high");
 * }</pre>
 *
 * <p>{@link #parse} reads the syntax {@link #toString()} writes: {@code name = value}, {@code name != value},
 * {@code name in (a, b)}, {@code name exists}, combined with {@code and}, {@code or}, {@code not} and parentheses
 * ({@code and} binds tighter than {@code or}); a value is a bare word ({@code [A-Za-z0-9._:/@+-]}) or quoted with
 * {@code '} or {@code "}. {@link Subscribe#filter()} takes that syntax.
 *
 * <p>Transports push filters down where a stock broker can apply them: RabbitMQ binds the group's queue only to the
 * event types a type filter allows; Kafka skips records by header before decoding them. The bus evaluates the filter
 * again in any case, so a transport that cannot push down loses nothing but the skipped work.
 *
 * <p>Immutable and thread-safe; evaluation never blocks and never throws.
 */
public abstract class Filter {

    Filter() {
    }

    /** Events whose attribute or header {@code name} equals one of {@code anyOf}. */
    public static Filter header(String name, String... anyOf) {
        requireName(name);
        if (anyOf == null || anyOf.length == 0) {
            throw new IllegalArgumentException("Filter.header(\"" + name + "\") needs at least one value");
        }
        Set<String> values = new LinkedHashSet<>();
        for (String v : anyOf) {
            values.add(Objects.requireNonNull(v, "value"));
        }
        return new Equals(name, Set.copyOf(values), List.copyOf(values));
    }

    /** Events whose CloudEvents {@code type} (the {@code @EventType} name) is one of {@code names}. */
    public static Filter type(String... names) {
        return header(MessageHeaders.TYPE, names);
    }

    /** Events whose {@code subject} (their key) is one of {@code keys}. */
    public static Filter subject(String... keys) {
        return header(MessageHeaders.SUBJECT, keys);
    }

    /** Events whose {@code source} (the publishing service) is one of {@code sources}. */
    public static Filter source(String... sources) {
        return header(MessageHeaders.SOURCE, sources);
    }

    /** Events that carry the attribute or header {@code name}, whatever its value. */
    public static Filter exists(String name) {
        return new Exists(requireName(name));
    }

    /** Every event (the filter of a subscription without one). */
    public static Filter all() {
        return All.INSTANCE;
    }

    /** Events both filters accept. */
    public Filter and(Filter other) {
        Objects.requireNonNull(other, "other");
        return other == All.INSTANCE ? this : new And(this, other);
    }

    /** Events either filter accepts. */
    public Filter or(Filter other) {
        Objects.requireNonNull(other, "other");
        return other == All.INSTANCE || other.equals(this) ? other : new Or(this, other);
    }

    /** Events this filter rejects. */
    public Filter negate() {
        return new Not(this);
    }

    /** Whether a message with these headers (CloudEvents attribute names, as on {@code TransportMessage}) passes. */
    public final boolean matches(Map<String, String> headers) {
        return test(headers::get);
    }

    /**
     * Whether a message passes, read from its headers only (the body is never looked at); {@code subject} falls
     * back to the message key, as the bus reads it.
     */
    public final boolean matches(dev.eventbus.spi.TransportMessage message) {
        return test(name -> {
            String v = message.header(name);
            return v == null && name.equals(MessageHeaders.SUBJECT) ? message.key() : v;
        });
    }

    /** Whether this envelope's event passes. */
    public final boolean matches(Envelope<?> envelope) {
        return test(name -> attributeOf(envelope, name));
    }

    /** Evaluates against an attribute lookup (null: absent). */
    abstract boolean test(Function<String, String> attribute);

    /**
     * The event types this filter confines events to, for a broker that routes by type; null when it does not
     * confine them to a known set (a header condition alone, a negation).
     */
    public abstract Set<String> types();

    /**
     * Parses the syntax described above.
     *
     * @throws IllegalArgumentException saying where the expression is wrong
     */
    public static Filter parse(String expression) {
        Objects.requireNonNull(expression, "expression");
        Parser p = new Parser(expression);
        Filter f = p.or();
        if (p.peek() != null) {
            throw p.error("expected 'and', 'or' or the end, found '" + p.peek() + "'");
        }
        return f;
    }

    static String attributeOf(Envelope<?> e, String name) {
        switch (name) {
            case MessageHeaders.TYPE:
                return e.type();
            case MessageHeaders.ID:
                return e.id();
            case MessageHeaders.SOURCE:
                return e.source();
            case MessageHeaders.SUBJECT:
                return e.subject();
            case MessageHeaders.DATACONTENTTYPE:
                return e.dataContentType();
            case MessageHeaders.CORRELATION_ID:
                return e.correlationId();
            case MessageHeaders.CAUSATION_ID:
                return e.causationId();
            case MessageHeaders.TRACEPARENT:
                return e.traceparent();
            default:
                return e.headers().get(name);
        }
    }

    private static String requireName(String name) {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("a filter needs a header name, got '" + name + "'");
        }
        return name;
    }

    private static String quote(String v) {
        for (int i = 0; i < v.length(); i++) {
            if (!Parser.isWordChar(v.charAt(i))) {
                return v.indexOf('\'') < 0 ? "'" + v + "'" : "\"" + v + "\"";
            }
        }
        return v.isEmpty() || Parser.isKeyword(v) ? "'" + v + "'" : v;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Filter f && f.toString().equals(toString());
    }

    @Override
    public int hashCode() {
        return toString().hashCode();
    }

    // ------------------------------------------------------------------------------------------------ the nodes

    private static final class All extends Filter {
        static final All INSTANCE = new All();

        @Override
        boolean test(Function<String, String> attribute) {
            return true;
        }

        @Override
        public Filter and(Filter other) {
            return Objects.requireNonNull(other, "other");
        }

        @Override
        public Filter or(Filter other) {
            Objects.requireNonNull(other, "other");
            return this;
        }

        @Override
        public Set<String> types() {
            return null;
        }

        @Override
        public String toString() {
            return "all";
        }
    }

    private static final class Equals extends Filter {
        final String name;
        final Set<String> values;
        final List<String> ordered;

        Equals(String name, Set<String> values, List<String> ordered) {
            this.name = name;
            this.values = values;
            this.ordered = ordered;
        }

        @Override
        boolean test(Function<String, String> attribute) {
            String v = attribute.apply(name);
            return v != null && values.contains(v);
        }

        @Override
        public Set<String> types() {
            return name.equals(MessageHeaders.TYPE) ? values : null;
        }

        @Override
        public String toString() {
            if (ordered.size() == 1) {
                return name + " = " + quote(ordered.get(0));
            }
            StringBuilder sb = new StringBuilder(name).append(" in (");
            for (int i = 0; i < ordered.size(); i++) {
                sb.append(i == 0 ? "" : ", ").append(quote(ordered.get(i)));
            }
            return sb.append(')').toString();
        }
    }

    private static final class Exists extends Filter {
        final String name;

        Exists(String name) {
            this.name = name;
        }

        @Override
        boolean test(Function<String, String> attribute) {
            return attribute.apply(name) != null;
        }

        @Override
        public Set<String> types() {
            return null;
        }

        @Override
        public String toString() {
            return name + " exists";
        }
    }

    private static final class And extends Filter {
        final Filter left;
        final Filter right;

        And(Filter left, Filter right) {
            this.left = left;
            this.right = right;
        }

        @Override
        boolean test(Function<String, String> attribute) {
            return left.test(attribute) && right.test(attribute);
        }

        @Override
        public Set<String> types() {
            Set<String> a = left.types();
            Set<String> b = right.types();
            if (a == null || b == null) {
                return a == null ? b : a;
            }
            Set<String> both = new LinkedHashSet<>(a);
            both.retainAll(b);
            return Set.copyOf(both);
        }

        @Override
        public String toString() {
            return wrap(left, Or.class) + " and " + wrap(right, Or.class);
        }
    }

    private static final class Or extends Filter {
        final Filter left;
        final Filter right;

        Or(Filter left, Filter right) {
            this.left = left;
            this.right = right;
        }

        @Override
        boolean test(Function<String, String> attribute) {
            return left.test(attribute) || right.test(attribute);
        }

        @Override
        public Set<String> types() {
            Set<String> a = left.types();
            Set<String> b = right.types();
            if (a == null || b == null) {
                return null;
            }
            Set<String> either = new LinkedHashSet<>(a);
            either.addAll(b);
            return Set.copyOf(either);
        }

        @Override
        public String toString() {
            return left + " or " + right;
        }
    }

    private static final class Not extends Filter {
        final Filter inner;

        Not(Filter inner) {
            this.inner = inner;
        }

        @Override
        boolean test(Function<String, String> attribute) {
            return !inner.test(attribute);
        }

        @Override
        public Set<String> types() {
            return null;
        }

        @Override
        public String toString() {
            return "not " + (inner instanceof And || inner instanceof Or ? "(" + inner + ")" : inner.toString());
        }
    }

    private static String wrap(Filter f, Class<?> lower) {
        return lower.isInstance(f) ? "(" + f + ")" : f.toString();
    }

    // ------------------------------------------------------------------------------------------------ parsing

    /** Recursive descent over a token list: or := and ('or' and)*; and := unary ('and' unary)*. */
    private static final class Parser {
        private final String text;
        private final List<String> tokens = new ArrayList<>();
        private final List<Integer> positions = new ArrayList<>();
        private int i;

        Parser(String text) {
            this.text = text;
            int n = text.length();
            int p = 0;
            while (p < n) {
                char c = text.charAt(p);
                if (Character.isWhitespace(c)) {
                    p++;
                } else if (c == '(' || c == ')' || c == ',' || c == '=') {
                    add(String.valueOf(c), p++);
                } else if (c == '!' && p + 1 < n && text.charAt(p + 1) == '=') {
                    add("!=", p);
                    p += 2;
                } else if (c == '\'' || c == '"') {
                    int end = text.indexOf(c, p + 1);
                    if (end < 0) {
                        throw new IllegalArgumentException("filter '" + text + "': unclosed quote at " + p);
                    }
                    add("\u0000" + text.substring(p + 1, end), p); // marked as a quoted value
                    p = end + 1;
                } else if (isWordChar(c)) {
                    int start = p;
                    while (p < n && isWordChar(text.charAt(p))) {
                        p++;
                    }
                    add(text.substring(start, p), start);
                } else {
                    throw new IllegalArgumentException("filter '" + text + "': unexpected '" + c + "' at " + p);
                }
            }
        }

        static boolean isWordChar(char c) {
            return Character.isLetterOrDigit(c) || c == '.' || c == '_' || c == '-' || c == ':' || c == '/'
                    || c == '@' || c == '+';
        }

        static boolean isKeyword(String w) {
            return switch (w.toLowerCase(Locale.ROOT)) {
                case "and", "or", "not", "in", "exists", "all" -> true;
                default -> false;
            };
        }

        private void add(String token, int position) {
            tokens.add(token);
            positions.add(position);
        }

        String peek() {
            return i < tokens.size() ? tokens.get(i) : null;
        }

        private boolean keyword(String k) {
            String t = peek();
            if (t != null && t.equalsIgnoreCase(k)) {
                i++;
                return true;
            }
            return false;
        }

        private void expect(String t) {
            if (!t.equals(peek())) {
                throw error("expected '" + t + "'" + (peek() == null ? " before the end" : ", found '" + peek() + "'"));
            }
            i++;
        }

        IllegalArgumentException error(String what) {
            int at = i < positions.size() ? positions.get(i) : text.length();
            return new IllegalArgumentException("filter '" + text + "' at position " + at + ": " + what);
        }

        Filter or() {
            Filter f = and();
            while (keyword("or")) {
                f = new Or(f, and());
            }
            return f;
        }

        Filter and() {
            Filter f = unary();
            while (keyword("and")) {
                f = new And(f, unary());
            }
            return f;
        }

        Filter unary() {
            if (keyword("not")) {
                return new Not(unary());
            }
            if ("(".equals(peek())) {
                i++;
                Filter f = or();
                expect(")");
                return f;
            }
            if (keyword("all")) {
                return All.INSTANCE;
            }
            String name = peek();
            if (name == null || name.startsWith("\u0000") || isKeyword(name) || !isWordChar(name.charAt(0))) {
                throw error("expected a header name" + (name == null ? " before the end" : ", found '" + name + "'"));
            }
            i++;
            if (keyword("exists")) {
                return new Exists(name);
            }
            if (keyword("in")) {
                expect("(");
                List<String> values = new ArrayList<>();
                values.add(value());
                while (",".equals(peek())) {
                    i++;
                    values.add(value());
                }
                expect(")");
                return header(name, values.toArray(new String[0]));
            }
            if ("=".equals(peek())) {
                i++;
                return header(name, value());
            }
            if ("!=".equals(peek())) {
                i++;
                return new Not(header(name, value()));
            }
            throw error("expected '=', '!=', 'in' or 'exists' after '" + name + "'");
        }

        String value() {
            String t = peek();
            if (t == null || t.length() == 1 && "(),=".contains(t) || t.equals("!=")) {
                throw error("expected a value" + (t == null ? " before the end" : ", found '" + t + "'"));
            }
            i++;
            return t.startsWith("\u0000") ? t.substring(1) : t;
        }
    }
}
