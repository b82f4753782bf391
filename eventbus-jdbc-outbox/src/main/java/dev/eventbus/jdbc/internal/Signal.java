package dev.eventbus.jdbc.internal;

/** A wake-up flag a worker thread sleeps on: {@link #signal()} ends the current (or next) {@link #await}. */
public final class Signal {
    private boolean signaled;

    public synchronized void signal() {
        if (!signaled) {
            signaled = true;
            notifyAll();
        }
    }

    /** Waits until signaled or {@code millis} passed; clears the flag. Returns true when signaled. */
    public synchronized boolean await(long millis) throws InterruptedException {
        long deadline = System.nanoTime() + millis * 1_000_000L;
        while (!signaled) {
            long left = (deadline - System.nanoTime()) / 1_000_000L;
            if (left <= 0) {
                return false;
            }
            wait(left);
        }
        signaled = false;
        return true;
    }
}
