package dev.eventbus.jdbc.internal;

import dev.eventbus.EventBusException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The leader/follower coordination alone (the writer is a plain function here; the store's tests run it against
 * the databases): a lone caller writes on its own thread, queued callers share the next batch, a leader that dies
 * does not leave its followers waiting, and an interrupted caller that is still queued leaves without being
 * written.
 */
class GroupCommitTest {

    /** Runs {@code r} on a new thread that records what it threw. */
    private static Thread start(String name, AtomicReference<Throwable> thrown, Runnable r) {
        Thread t = new Thread(() -> {
            try {
                r.run();
            } catch (Throwable e) {
                thrown.set(e);
            }
        }, name);
        t.start();
        return t;
    }

    private static void awaitQueued(GroupCommit<?> gc, int n) {
        while (gc.queued() < n) {
            Thread.onSpinWait();
        }
    }

    @Test
    void aLoneCallerWritesOnItsOwnThreadAtOnce() {
        List<Thread> writers = new ArrayList<>();
        GroupCommit<String> gc = new GroupCommit<>(batch -> {
            writers.add(Thread.currentThread());
            batch.forEach(r -> r.complete(r.work().length()));
        }, 64, 500);
        assertThat(gc.submit("abc", 1)).isEqualTo(3);
        assertThat(writers).containsExactly(Thread.currentThread());
        assertThat(gc.batches()).isEqualTo(1);
    }

    @Test
    void callersQueuedBehindABusyLeaderShareTheNextBatchWithinItsBounds() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        List<List<String>> batches = new CopyOnWriteArrayList<>();
        GroupCommit<String> gc = new GroupCommit<>(batch -> {
            batches.add(batch.stream().map(GroupCommit.Request::work).toList());
            if (batch.get(0).work().equals("first")) {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
            batch.forEach(r -> r.complete(r.work().length()));
        }, 3, 500);
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        List<Thread> ts = new ArrayList<>();
        ts.add(start("first", thrown, () -> gc.submit("first", 1)));
        while (batches.isEmpty()) {
            Thread.onSpinWait();
        }
        for (int i = 0; i < 4; i++) {
            String w = "w" + i;
            ts.add(start(w, thrown, () -> assertThat(gc.submit(w, 1)).isEqualTo(2)));
            awaitQueued(gc, i + 1);
        }
        release.countDown();
        for (Thread t : ts) {
            t.join();
        }
        assertThat(thrown.get()).isNull();
        assertThat(batches).containsExactly(List.of("first"), List.of("w0", "w1", "w2"), List.of("w3"));
    }

    /**
     * The leader's thread dies (an Error) while writing a batch: its followers in that batch fail with an
     * exception instead of waiting forever, and a caller queued behind is led by the next leader.
     */
    @Test
    void aLeaderThatDiesFailsItsBatchAndTheQueueMovesOn() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        GroupCommit<String> gc = new GroupCommit<>(batch -> {
            String first = batch.get(0).work();
            if (first.equals("hold")) {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
            if (first.equals("dies")) {
                throw new OutOfMemoryError("the leader's thread dies here");
            }
            batch.forEach(r -> r.complete(1));
        }, 2, 500);
        AtomicReference<Throwable> holder = new AtomicReference<>();
        AtomicReference<Throwable> dying = new AtomicReference<>();
        AtomicReference<Throwable> follower = new AtomicReference<>();
        AtomicReference<Throwable> later = new AtomicReference<>();
        Thread h = start("hold", holder, () -> gc.submit("hold", 1));
        while (gc.queued() == 0 && gc.batches() == 0 && h.getState() == Thread.State.RUNNABLE) {
            Thread.onSpinWait();
        }
        Thread d = start("dies", dying, () -> gc.submit("dies", 1));
        awaitQueued(gc, 1);
        Thread f = start("follower", follower, () -> gc.submit("follower", 1));
        awaitQueued(gc, 2);
        Thread l = start("later", later, () -> assertThat(gc.submit("later", 1)).isEqualTo(1));
        awaitQueued(gc, 3);
        release.countDown();
        for (Thread t : List.of(h, d, f, l)) {
            t.join();
        }
        assertThat(holder.get()).isNull();
        assertThat(dying.get()).isInstanceOf(OutOfMemoryError.class);
        assertThat(follower.get()).isInstanceOf(EventBusException.class)
                .hasMessageContaining("may or may not be stored");
        assertThat(later.get()).isNull();
        assertThat(gc.queued()).isZero();
    }

    @Test
    void anInterruptedCallerStillQueuedLeavesWithoutBeingWritten() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        List<String> written = new CopyOnWriteArrayList<>();
        GroupCommit<String> gc = new GroupCommit<>(batch -> {
            batch.forEach(r -> written.add(r.work()));
            if (batch.get(0).work().equals("hold")) {
                try {
                    release.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
            batch.forEach(r -> r.complete(1));
        }, 64, 500);
        AtomicReference<Throwable> holder = new AtomicReference<>();
        AtomicReference<Throwable> interrupted = new AtomicReference<>();
        AtomicReference<Boolean> flag = new AtomicReference<>();
        Thread h = start("hold", holder, () -> gc.submit("hold", 1));
        while (written.isEmpty()) {
            Thread.onSpinWait();
        }
        Thread q = start("queued", interrupted, () -> {
            try {
                gc.submit("interrupted", 1);
            } finally {
                flag.set(Thread.currentThread().isInterrupted());
            }
        });
        awaitQueued(gc, 1);
        q.interrupt();
        q.join();
        release.countDown();
        h.join();
        assertThat(interrupted.get()).isInstanceOf(EventBusException.class)
                .hasMessageContaining("nothing was written");
        assertThat(flag.get()).isTrue();
        assertThat(written).containsExactly("hold");
        assertThat(gc.submit("after", 1)).isEqualTo(1); // the leadership was given back
        assertThat(holder.get()).isNull();
    }
}
