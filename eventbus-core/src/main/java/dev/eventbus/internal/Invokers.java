package dev.eventbus.internal;

import java.lang.invoke.CallSite;
import java.lang.invoke.LambdaMetafactory;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Method;

/**
 * Binds a subscriber method to its object once, at registration, as a generated class implementing
 * {@link OneArg} or {@link TwoArgs} ({@link LambdaMetafactory}), so each event costs one interface call, like a
 * hand-written lambda, instead of {@code Method.invoke}. Falls back to a bound {@link MethodHandle} when the
 * metafactory is refused (a class in a module that does not open its package to us).
 */
public final class Invokers {

    private Invokers() {
    }

    /** A subscriber taking one argument (the event or its envelope). */
    @FunctionalInterface
    public interface OneArg {
        void invoke(Object arg) throws Throwable;
    }

    /** A subscriber taking the event and its envelope. */
    @FunctionalInterface
    public interface TwoArgs {
        void invoke(Object event, Object envelope) throws Throwable;
    }

    public static OneArg oneArg(Object target, Method method) throws IllegalAccessException {
        MethodHandles.Lookup lookup = lookupFor(method.getDeclaringClass());
        MethodHandle mh = lookup.unreflect(method);
        try {
            CallSite site = LambdaMetafactory.metafactory(lookup, "invoke",
                    MethodType.methodType(OneArg.class, method.getDeclaringClass()),
                    MethodType.methodType(void.class, Object.class), mh,
                    MethodType.methodType(void.class, method.getParameterTypes()[0]));
            return (OneArg) site.getTarget().invoke(target);
        } catch (Throwable generationRefused) {
            MethodHandle bound = mh.bindTo(target).asType(MethodType.methodType(void.class, Object.class));
            return arg -> bound.invokeExact(arg);
        }
    }

    public static TwoArgs twoArgs(Object target, Method method) throws IllegalAccessException {
        MethodHandles.Lookup lookup = lookupFor(method.getDeclaringClass());
        MethodHandle mh = lookup.unreflect(method);
        try {
            Class<?>[] p = method.getParameterTypes();
            CallSite site = LambdaMetafactory.metafactory(lookup, "invoke",
                    MethodType.methodType(TwoArgs.class, method.getDeclaringClass()),
                    MethodType.methodType(void.class, Object.class, Object.class), mh,
                    MethodType.methodType(void.class, p[0], p[1]));
            return (TwoArgs) site.getTarget().invoke(target);
        } catch (Throwable generationRefused) {
            MethodHandle bound = mh.bindTo(target)
                    .asType(MethodType.methodType(void.class, Object.class, Object.class));
            return (a, b) -> bound.invokeExact(a, b);
        }
    }

    private static MethodHandles.Lookup lookupFor(Class<?> c) throws IllegalAccessException {
        return MethodHandles.privateLookupIn(c, MethodHandles.lookup());
    }
}
