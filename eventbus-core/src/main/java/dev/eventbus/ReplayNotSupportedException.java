package dev.eventbus;

/**
 * A transport cannot move a consumer group back: it keeps no messages once they are consumed (RabbitMQ queues, the
 * in-memory transport). The message says why and what to use instead. Thrown before anything was moved; trying
 * again does not help ({@link #isRetriable()} is false).
 */
public class ReplayNotSupportedException extends EventBusException {
    private static final long serialVersionUID = 1L;

    private final String transport;

    /**
     * @param transport the transport's name
     * @param reason    why, and what to use instead; appended to "the &lt;transport&gt; transport cannot replay: "
     */
    public ReplayNotSupportedException(String transport, String reason) {
        super("the " + transport + " transport cannot replay: " + reason);
        this.transport = transport;
    }

    /** The name of the transport that refused. */
    public String transport() {
        return transport;
    }
}
