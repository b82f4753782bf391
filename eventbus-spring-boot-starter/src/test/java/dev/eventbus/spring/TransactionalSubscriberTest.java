package dev.eventbus.spring;

import dev.eventbus.EventBus;
import dev.eventbus.Subscribe;
import dev.eventbus.spring.TestSupport.OrderPlaced;
import org.junit.jupiter.api.Test;
import org.springframework.aop.support.AopUtils;
import org.springframework.transaction.annotation.Transactional;
import org.springframework.transaction.support.TransactionSynchronizationManager;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/** A subscriber bean proxied for {@code @Transactional} is registered as the proxy: its handler runs in a transaction. */
class TransactionalSubscriberTest {

    public static class Audit {
        final List<Boolean> inTransaction = new CopyOnWriteArrayList<>();

        @Transactional
        @Subscribe
        public void on(OrderPlaced e) {
            inTransaction.add(TransactionSynchronizationManager.isActualTransactionActive());
        }

        /** Through the proxy, so the target's list (a class proxy's own fields are never set). */
        public List<Boolean> inTransaction() {
            return inTransaction;
        }
    }

    @Test
    void theHandlerRunsThroughTheProxy() {
        TestSupport.withJdbc().withBean(Audit.class)
                .withPropertyValues("spring.datasource.url=" + TestSupport.h2Url(TestSupport.unique("sbt")))
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    Audit audit = context.getBean(Audit.class);
                    assertThat(AopUtils.isAopProxy(audit)).isTrue();
                    context.getBean(EventBus.class).publish(new OrderPlaced("a-1", 1)).join();
                    assertThat(audit.inTransaction()).containsExactly(true);
                });
    }
}
