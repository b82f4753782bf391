package dev.eventbus.store;

/**
 * Where a projection stands: the position of the last event it handled and the store's head.
 *
 * @param name         the projection's name
 * @param position     the last position handled (0: none yet)
 * @param headPosition the store's last committed position when the status was taken
 * @param rebuilding   true while a rebuild into a fresh read model is running
 */
public record ProjectionStatus(String name, long position, long headPosition, boolean rebuilding) {

    /** How many events the projection is behind the store's head. */
    public long lag() {
        return Math.max(0, headPosition - position);
    }
}
