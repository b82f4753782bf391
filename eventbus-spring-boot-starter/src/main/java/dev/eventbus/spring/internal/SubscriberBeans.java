package dev.eventbus.spring.internal;

import dev.eventbus.EventBus;
import dev.eventbus.Registration;
import dev.eventbus.Subscribe;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.aop.framework.AopProxyUtils;
import org.springframework.aop.support.AopUtils;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.config.DestructionAwareBeanPostProcessor;
import org.springframework.context.SmartLifecycle;

import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds every bean with {@code @Subscribe} methods as it is initialized, registers them all with the bus when the
 * context starts ({@link SmartLifecycle}, phase {@link #PHASE}) and unregisters them when it stops (or when the bean
 * is destroyed), so a subscriber never runs before its application is started or after it began shutting down.
 *
 * <p>The phase is Spring Kafka's: subscribers start after the web server and stop before it, so during graceful
 * shutdown this instance stops taking events (finishing those in flight, up to {@code eventbus.close-timeout})
 * while HTTP requests drain and may still publish; the bus itself closes last, with the context.
 *
 * <p>A proxied bean (for {@code @Transactional} subscriber methods) is registered as the proxy when it is a class
 * proxy, so the handler runs through its interceptors; a JDK interface proxy is registered as its target.
 *
 * <p>Thread-safe.
 */
public final class SubscriberBeans implements DestructionAwareBeanPostProcessor, SmartLifecycle {

    /** Stops before the web server's graceful shutdown ({@code DEFAULT_PHASE - 1024}) and starts after it. */
    public static final int PHASE = SmartLifecycle.DEFAULT_PHASE - 100;

    private static final Logger log = LoggerFactory.getLogger(SubscriberBeans.class);

    private final ObjectProvider<EventBus> bus;
    /** Subscriber bean (as registered) by bean name, in creation order. Guarded by this. */
    private final Map<String, Object> subscribers = new LinkedHashMap<>();
    /** Guarded by this. */
    private final Map<Object, Registration> registrations = new IdentityHashMap<>();
    private volatile boolean running;

    public SubscriberBeans(ObjectProvider<EventBus> bus) {
        this.bus = bus;
    }

    @Override
    public Object postProcessAfterInitialization(Object bean, String beanName) {
        if (bean instanceof EventBus || !hasSubscribeMethods(AopUtils.getTargetClass(bean))) {
            return bean;
        }
        Object subscriber = bean;
        if (AopUtils.isJdkDynamicProxy(bean)) {
            Object target = AopProxyUtils.getSingletonTarget(bean);
            if (target != null) {
                subscriber = target;
            }
        }
        synchronized (this) {
            subscribers.put(beanName, subscriber);
            if (running) {
                register(subscriber);
            }
        }
        return bean;
    }

    @Override
    public void postProcessBeforeDestruction(Object bean, String beanName) {
        synchronized (this) {
            Object subscriber = subscribers.remove(beanName);
            if (subscriber != null) {
                Registration r = registrations.remove(subscriber);
                if (r != null) {
                    r.unregister();
                }
            }
        }
    }

    @Override
    public boolean requiresDestruction(Object bean) {
        return hasSubscribeMethods(AopUtils.getTargetClass(bean));
    }

    static boolean hasSubscribeMethods(Class<?> type) {
        for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
            for (Method m : c.getDeclaredMethods()) {
                if (m.isAnnotationPresent(Subscribe.class)) {
                    return true;
                }
            }
        }
        return false;
    }

    @Override
    public synchronized void start() {
        if (running) {
            return;
        }
        for (Object s : subscribers.values()) {
            register(s);
        }
        running = true;
    }

    private void register(Object subscriber) {
        if (!registrations.containsKey(subscriber)) {
            registrations.put(subscriber, bus.getObject().register(subscriber));
            log.debug("registered @Subscribe methods of {}", AopUtils.getTargetClass(subscriber).getName());
        }
    }

    /** Unregisters in reverse order; each waits for its handlers in flight (up to the bus's close timeout). */
    @Override
    public synchronized void stop() {
        running = false;
        List<Registration> rs = new ArrayList<>(registrations.values());
        registrations.clear();
        for (int i = rs.size() - 1; i >= 0; i--) {
            try {
                rs.get(i).unregister();
            } catch (RuntimeException e) {
                log.warn("unregistering a subscriber failed", e);
            }
        }
    }

    @Override
    public boolean isRunning() {
        return running;
    }

    @Override
    public int getPhase() {
        return PHASE;
    }

    /** How many subscriber beans are registered with the bus now. */
    public synchronized int registeredCount() {
        return registrations.size();
    }
}
