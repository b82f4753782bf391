package dev.eventbus.process;

/** Where a process is. Immutable and thread-safe. */
public enum ProcessStatus {
    /** A saga waiting for the reply of its current step, or an aggregation still collecting. */
    RUNNING(false),
    /** A saga whose step failed or timed out, running the compensations of its completed steps in reverse order. */
    COMPENSATING(false),
    /** A saga whose every step replied, or an aggregation that received every part and published its event. */
    COMPLETED(true),
    /** A saga whose completed steps were all compensated. */
    COMPENSATED(true),
    /** An aggregation whose window closed before every part arrived (its partial event, if any, was published). */
    TIMED_OUT(true);

    private final boolean finished;

    ProcessStatus(boolean finished) {
        this.finished = finished;
    }

    /** True for the end states: the process takes no more events. */
    public boolean isFinished() {
        return finished;
    }
}
