package dev.eventbus;

import dev.eventbus.internal.Invokers;

import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.lang.reflect.WildcardType;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * One subscriber: a method bound to its object (or a lambda), the event class it takes, its group, and how to
 * call it. Built once at registration; immutable and thread-safe.
 */
final class Subscriber {

    enum Shape {
        EVENT, ENVELOPE, BOTH,
        /** A batch subscriber taking {@code List<E>}. */
        LIST,
        /** A batch subscriber taking {@code Batch<E>}. */
        BATCH
    }

    /** The bus it is registered on (null only in tests that never fail and take no envelope). */
    final EventBus bus;
    final String id;
    final String group;
    final Class<?> eventClass;
    final Object target;
    final Method method;
    final Shape shape;
    final int concurrency;
    /** The invoker for subscribers taking just the event (null otherwise): the fast path calls it directly. */
    final Invokers.OneArg direct;
    /**
     * What a {@link Dispatcher} calls with the event: the direct invoker, or for a subscriber taking the envelope, an
     * adapter that gets it from the calling thread's dispatch context (whose top frame is the event's own there).
     */
    final Invokers.OneArg fast;
    private final Invokers.OneArg one;
    private final Invokers.TwoArgs two;
    /** Which events it wants (by attributes and headers), or null for all. */
    final Filter filter;
    /** For a batch subscriber: the batch size and wait its annotation sets (0 and "": from the configuration). */
    final int batchSize;
    final String batchWait;
    /** For a batch subscriber: its lanes, set once by {@link Subscriptions} before it is registered. */
    volatile BatchLanes batches;

    private Subscriber(EventBus bus, String id, String group, Class<?> eventClass, Object target, Method method,
                       Shape shape, int concurrency, Invokers.OneArg one, Invokers.TwoArgs two) {
        this(bus, id, group, eventClass, target, method, shape, concurrency, one, two, null, 0, "");
    }

    private Subscriber(EventBus bus, String id, String group, Class<?> eventClass, Object target, Method method,
                       Shape shape, int concurrency, Invokers.OneArg one, Invokers.TwoArgs two, Filter filter,
                       int batchSize, String batchWait) {
        this.filter = filter;
        this.batchSize = batchSize;
        this.batchWait = batchWait;
        this.bus = bus;
        this.id = id;
        this.group = group;
        this.eventClass = eventClass;
        this.target = target;
        this.method = method;
        this.shape = shape;
        this.concurrency = concurrency;
        this.one = one;
        this.two = two;
        this.direct = shape == Shape.EVENT && filter == null ? one : null;
        this.fast = direct != null ? direct : filter == null
                ? event -> invoke(event, DispatchContext.current().envelopeOfTop(bus, event))
                : event -> {
                    Envelope<?> envelope = DispatchContext.current().envelopeOfTop(bus, event);
                    if (acceptsLocal(envelope)) {
                        invoke(event, envelope);
                    }
                };
    }

    static Subscriber ofLambda(EventBus bus, String id, String group, Class<?> eventClass, int concurrency, Invokers.OneArg handler) {
        return new Subscriber(bus, id, group, eventClass, null, null, Shape.EVENT, concurrency, handler, null);
    }

    /** A lambda taking each event that passes {@code filter}. */
    static Subscriber ofFilteredLambda(EventBus bus, String id, String group, Class<?> eventClass, int concurrency,
                                       Filter filter, Invokers.OneArg handler) {
        return new Subscriber(bus, id, group, eventClass, null, null, Shape.EVENT, concurrency, handler, null,
                filter, 0, "");
    }

    /** A lambda taking each event's envelope ({@link EventBus#subscribeEnvelopes}). */
    static Subscriber ofEnvelopeLambda(EventBus bus, String id, String group, Class<?> eventClass, int concurrency,
                                       Invokers.OneArg handler) {
        return new Subscriber(bus, id, group, eventClass, null, null, Shape.ENVELOPE, concurrency, handler, null);
    }

    boolean wantsEnvelope() {
        return shape != Shape.EVENT || filter != null;
    }

    boolean isBatch() {
        return shape == Shape.LIST || shape == Shape.BATCH;
    }

    /**
     * Whether a local (in-memory) event passes the filter; a rejected one is counted as filtered instead of
     * delivered. Deliveries from a transport are filtered on their headers, before decoding ({@link GroupDispatcher}).
     */
    boolean acceptsLocal(Envelope<?> envelope) {
        if (filter == null || filter.matches(envelope)) {
            return true;
        }
        if (bus != null) {
            bus.counters.filtered.increment();
            bus.counters.delivered.decrement(); // the local paths counted the call before making it
        }
        return false;
    }

    /**
     * Calls the subscriber; {@code envelope} may be null when {@link #wantsEnvelope()} is false. A batch subscriber
     * called this way (local dispatch) gets the event into its next batch; its failures come back through
     * {@link FailureHandling#onLocalBatchFailure}.
     */
    void invoke(Object event, Envelope<?> envelope) throws Throwable {
        switch (shape) {
            case EVENT:
                one.invoke(event);
                break;
            case ENVELOPE:
                one.invoke(envelope);
                break;
            case LIST:
            case BATCH:
                offerLocal(envelope);
                break;
            default:
                two.invoke(event, envelope);
        }
    }

    /** Calls a batch subscriber with these envelopes, as a {@code List<E>} or a {@link Batch}. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    void invokeBatch(List<Envelope<?>> envelopes) throws Throwable {
        if (shape == Shape.BATCH) {
            one.invoke(new Batch(envelopes));
        } else {
            List<Object> events = new ArrayList<>(envelopes.size());
            for (Envelope<?> e : envelopes) {
                events.add(e.event());
            }
            one.invoke(java.util.Collections.unmodifiableList(events));
        }
    }

    private void offerLocal(Envelope<?> envelope) {
        BatchLanes lanes = batches;
        if (lanes == null) {
            throw new IllegalStateException(id + " is a batch subscriber that is not registered");
        }
        Subscriber self = this;
        lanes.offer(new BatchLanes.Item(envelope, envelope.attempt()) {
            @Override
            void finished(Throwable failure, int attempts) {
                if (failure == null) {
                    // Counted as delivered when it was offered; observers learn it now that its batch returned.
                    Observers.handled(bus.observers, envelope, LocalDispatch.MEMORY, self,
                            EventBusObserver.Handling.ACK, Observers.NOT_TIMED, null);
                    return;
                }
                bus.failures.onLocalBatchFailure(self, envelope, bus.infoOf(envelope.event().getClass()), failure,
                        attempts);
            }

            @Override
            void abandoned() {
                bus.counters.delivered.decrement();
                EventBus.log.warn("event {} ({}) for batch subscriber {} was dropped: the bus closed before its batch "
                        + "was handed over", envelope.id(), envelope.type(), id);
            }
        });
    }

    @Override
    public String toString() {
        return id + " [group " + group + "]";
    }

    /**
     * Finds and binds every {@link Subscribe} method of {@code target}'s class and superclasses. Fails at once, with
     * a sentence naming the class and method, on a method it cannot call correctly.
     */
    static List<Subscriber> scan(Object target, EventBus bus, String defaultGroup, int defaultConcurrency) {
        List<Subscriber> out = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        for (Class<?> c = target.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (Method m : c.getDeclaredMethods()) {
                Subscribe ann = m.getAnnotation(Subscribe.class);
                if (ann == null || m.isBridge() || m.isSynthetic()) {
                    continue;
                }
                String signature = m.getName() + java.util.Arrays.toString(m.getParameterTypes());
                if (!seen.add(signature)) {
                    continue; // overridden in a subclass: the subclass's method was bound already
                }
                out.add(bind(target, bus, m, ann, defaultGroup, defaultConcurrency));
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(target.getClass().getName()
                    + " has no @Subscribe methods: nothing to register");
        }
        return out;
    }

    private static Subscriber bind(Object target, EventBus bus, Method m, Subscribe ann, String defaultGroup, int defaultConcurrency) {
        String where = "Subscriber method " + m.getDeclaringClass().getName() + "#" + m.getName();
        if (Modifier.isStatic(m.getModifiers())) {
            throw new IllegalArgumentException(where + " is static: @Subscribe methods must be instance methods");
        }
        if (m.getReturnType() != void.class) {
            throw new IllegalArgumentException(where + " returns " + m.getReturnType().getSimpleName()
                    + ": @Subscribe methods must return void");
        }
        if (ann.concurrency() < 0) {
            throw new IllegalArgumentException(where + " has @Subscribe(concurrency = " + ann.concurrency()
                    + "): it must be 0 (the bus default) or more");
        }
        Class<?>[] params = m.getParameterTypes();
        Type[] generic = m.getGenericParameterTypes();
        Shape shape;
        Class<?> eventClass;
        switch (params.length) {
            case 0:
                throw new IllegalArgumentException(where + " has no parameter: a @Subscribe method takes the event, "
                        + "its Envelope<E>, or both (event first)");
            case 1:
                checkNotPrimitive(where, params[0]);
                if (params[0] == List.class || params[0] == Batch.class) {
                    shape = params[0] == List.class ? Shape.LIST : Shape.BATCH;
                    eventClass = typeArgument(where, generic[0], params[0].getSimpleName());
                } else if (params[0] == Envelope.class) {
                    shape = Shape.ENVELOPE;
                    eventClass = envelopeArgument(where, generic[0]);
                } else {
                    shape = Shape.EVENT;
                    eventClass = params[0];
                }
                break;
            case 2:
                checkNotPrimitive(where, params[0]);
                checkNotPrimitive(where, params[1]);
                if (params[0] == Envelope.class || params[1] != Envelope.class) {
                    throw new IllegalArgumentException(where + " takes (" + params[0].getSimpleName() + ", "
                            + params[1].getSimpleName() + "): with two parameters a @Subscribe method takes "
                            + "the event first and its Envelope<E> second");
                }
                shape = Shape.BOTH;
                eventClass = params[0];
                Class<?> envelopeArg = envelopeArgument(where, generic[1]);
                if (!envelopeArg.isAssignableFrom(eventClass)) {
                    throw new IllegalArgumentException(where + " takes " + eventClass.getSimpleName()
                            + " with Envelope<" + envelopeArg.getSimpleName() + ">: the envelope's type argument "
                            + "must be the event's type or a supertype of it");
                }
                break;
            default:
                throw new IllegalArgumentException(where + " has " + params.length + " parameters: a @Subscribe "
                        + "method takes the event, its Envelope<E>, or both (event first)");
        }
        String id = m.getDeclaringClass().getName() + "#" + m.getName() + "(" + simpleNames(params) + ")";
        String group = ann.group().isBlank() ? defaultGroup : ann.group();
        int concurrency = ann.concurrency() == 0 ? defaultConcurrency : ann.concurrency();
        Filter filter = null;
        if (!ann.filter().isBlank()) {
            try {
                filter = Filter.parse(ann.filter());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + " has @Subscribe(filter = \"" + ann.filter()
                        + "\"), which does not parse: " + e.getMessage(), e);
            }
        }
        boolean batch = shape == Shape.LIST || shape == Shape.BATCH;
        if (!batch && (ann.batchSize() != 0 || !ann.batchWait().isEmpty())) {
            throw new IllegalArgumentException(where + " sets batchSize or batchWait but takes "
                    + params[0].getSimpleName() + ": only a batch subscriber (taking List<E> or Batch<E>) has batches");
        }
        if (ann.batchSize() < 0 || ann.batchSize() > MAX_BATCH_SIZE) {
            throw new IllegalArgumentException(where + " has @Subscribe(batchSize = " + ann.batchSize()
                    + "): it must be 0 (the configuration's, else 100) or 1 to " + MAX_BATCH_SIZE);
        }
        if (!ann.batchWait().isEmpty()) {
            try {
                checkBatchWait(dev.eventbus.spi.TransportContext.parseDuration("batchWait", ann.batchWait()),
                        ann.batchWait());
            } catch (ConfigException | IllegalArgumentException e) {
                throw new IllegalArgumentException(where + " has @Subscribe(batchWait = \"" + ann.batchWait()
                        + "\"): it must be a duration from 0ms to 1h such as 200ms, 2s or PT0.5S", e);
            }
        }
        try {
            if (shape == Shape.BOTH) {
                return new Subscriber(bus, id, group, eventClass, target, m, shape, concurrency, null,
                        Invokers.twoArgs(target, m), filter, 0, "");
            }
            return new Subscriber(bus, id, group, eventClass, target, m, shape, concurrency, Invokers.oneArg(target, m),
                    null, filter, ann.batchSize(), ann.batchWait());
        } catch (IllegalAccessException | RuntimeException e) {
            throw new IllegalArgumentException(where + " cannot be reached by the bus (" + e.getMessage()
                    + "): make it public or package-private, or open its package to dev.eventbus.core", e);
        }
    }

    /** The largest batch size accepted, in code or configuration. */
    static final int MAX_BATCH_SIZE = 100_000;
    /** The longest batch wait accepted. */
    static final java.time.Duration MAX_BATCH_WAIT = java.time.Duration.ofHours(1);

    /** Fails unless {@code wait} is from 0 to {@link #MAX_BATCH_WAIT}. */
    static java.time.Duration checkBatchWait(java.time.Duration wait, String text) {
        if (wait.isNegative() || wait.compareTo(MAX_BATCH_WAIT) > 0) {
            throw new IllegalArgumentException("batch wait " + text + " is not from 0ms to 1h");
        }
        return wait;
    }

    /** The E of a {@code List<E>} or {@code Batch<E>} parameter; it must be declared. */
    private static Class<?> typeArgument(String where, Type t, String container) {
        if (!(t instanceof ParameterizedType)) {
            throw new IllegalArgumentException(where + " takes a raw " + container + ": a batch subscriber declares "
                    + "its event type, as in " + container + "<OrderPlaced>");
        }
        return erase(where, ((ParameterizedType) t).getActualTypeArguments()[0]);
    }

    private static void checkNotPrimitive(String where, Class<?> p) {
        if (p.isPrimitive()) {
            throw new IllegalArgumentException(where + " takes a primitive " + p.getName()
                    + ": events are objects (use a record, or the boxed type)");
        }
    }

    /** The E of an {@code Envelope<E>} parameter: a class, the erasure of a type variable, or Object. */
    private static Class<?> envelopeArgument(String where, Type t) {
        if (!(t instanceof ParameterizedType)) {
            return Object.class; // raw Envelope: every event
        }
        Type arg = ((ParameterizedType) t).getActualTypeArguments()[0];
        return erase(where, arg);
    }

    private static Class<?> erase(String where, Type arg) {
        if (arg instanceof Class<?> c) {
            return c;
        }
        if (arg instanceof ParameterizedType p) {
            return (Class<?>) p.getRawType();
        }
        if (arg instanceof WildcardType w) {
            Type[] upper = w.getUpperBounds();
            return upper.length == 0 ? Object.class : erase(where, upper[0]);
        }
        if (arg instanceof TypeVariable<?> v) {
            Type[] bounds = v.getBounds();
            return bounds.length == 0 ? Object.class : erase(where, bounds[0]);
        }
        throw new IllegalArgumentException(where + " takes Envelope<" + arg + ">, whose event type cannot be resolved");
    }

    private static String simpleNames(Class<?>[] params) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < params.length; i++) {
            sb.append(i == 0 ? "" : ",").append(params[i].getSimpleName());
        }
        return sb.toString();
    }
}
