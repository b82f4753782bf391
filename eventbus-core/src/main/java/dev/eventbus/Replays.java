package dev.eventbus;

import dev.eventbus.spi.Capability;
import dev.eventbus.spi.Transport;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * {@link EventBus#replay(String, ReplayFrom)}: moves a group on every stream it reads on this bus, through each
 * stream's transport ({@link Transport#replay}). Refuses before moving anything when one of those transports cannot
 * replay, so a group is never left moved on one stream and not on another for that reason. Thread-safe.
 */
final class Replays {

    private Replays() {
    }

    static ReplayResult replay(Subscriptions subscriptions, Map<String, Transport> transports, String group,
                               ReplayFrom from) {
        List<Map.Entry<String, String>> streams = subscriptions.streamsOf(group);
        if (streams.isEmpty()) {
            throw new IllegalArgumentException("group '" + group + "' has no subscription on this bus (groups here: "
                    + subscriptions.groups() + "): a replay moves the streams a group's registered subscribers read;"
                    + " register them first, or call transport(name).replay(group, stream, from)");
        }
        for (Map.Entry<String, String> s : streams) {
            Transport t = transports.get(s.getKey());
            if (!t.capabilities().contains(Capability.REPLAY)) {
                t.replay(group, s.getValue(), from); // its own refusal, with what to use instead
                throw new ReplayNotSupportedException(t.name(), "it does not declare Capability.REPLAY");
            }
        }
        ReplayResult result = new ReplayResult(group, from, List.of());
        List<String> done = new ArrayList<>();
        for (Map.Entry<String, String> s : streams) {
            try {
                result = result.plus(transports.get(s.getKey()).replay(group, s.getValue(), from));
            } catch (RuntimeException e) {
                if (done.isEmpty()) {
                    throw e;
                }
                throw new EventBusException("replay of group '" + group + "' to " + from + " failed on stream '"
                        + s.getValue() + "' (" + s.getKey() + ") after moving " + done + ": " + e.getMessage(), e,
                        e instanceof EventBusException x && x.isRetriable());
            }
            done.add(s.getValue() + " (" + s.getKey() + ")");
            EventBus.log.info("group '{}' replays stream '{}' ({}) from {}", group, s.getValue(), s.getKey(), from);
        }
        return result;
    }
}
