package dev.eventbus.kafka.internal;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.ArrayList;

/**
 * What one worker is handling right now: read by close and revocation, written only by its worker. Padded so two
 * workers' slots never share a cache line (superclass fields are laid out first, so {@code current} sits between
 * the pads).
 */
@SuppressWarnings("unused")
final class WorkerSlot extends WorkerSlotValue {
    long q0, q1, q2, q3, q4, q5, q6, q7;

    private static final VarHandle CURRENT;

    static {
        try {
            CURRENT = MethodHandles.lookup().findVarHandle(WorkerSlotValue.class, "current", Work.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** Clears {@link #current} without a full fence: the next record's volatile write has one. */
    void clearRelease() {
        CURRENT.setRelease((WorkerSlotValue) this, (Work) null);
    }

    /** Records the main loop dispatched to a lane, counted by the hold-back (redeliveries are not). */
    static final class LaneBatch extends ArrayList<Work> {
        private static final long serialVersionUID = 1L;
    }
}

/** Padding before a worker's slot. */
@SuppressWarnings("unused")
class WorkerSlotPad {
    long p0, p1, p2, p3, p4, p5, p6, p7;
}

/** The fields of a {@link WorkerSlot}. */
class WorkerSlotValue extends WorkerSlotPad {
    /** The record the worker is handling, or null. */
    volatile Work current;
    /** Records of {@link WorkerSlot.LaneBatch}es this worker has finished (decided or left undecided). */
    volatile long finished;
}
