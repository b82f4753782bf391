package dev.eventbus.process;

import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A {@link ProcessStore} in memory: for tests, single-process applications and the in-memory default bus. State is
 * lost when the JVM exits. The emitted events are published by the {@link ProcessManager} right after the commit:
 * there is no transaction spanning the two here (a crash in between loses them, which in memory loses everything
 * anyway).
 *
 * <p>Thread-safe: each commit is atomic per process (a compare-and-set on the version). Never blocks beyond a
 * short lock per process. Nothing to close.
 */
public final class InMemoryProcessStore implements ProcessStore {

    private record Entry(ProcessInstance instance, Set<String> applied) {
    }

    private final Map<String, Entry> entries = new ConcurrentHashMap<>();

    private static String key(String type, String id) {
        return type + '\u0000' + id;
    }

    @Override
    public Optional<ProcessInstance> find(String type, String id) {
        Entry e = entries.get(key(type, id));
        return e == null ? Optional.empty() : Optional.of(e.instance);
    }

    @Override
    public CommitResult commit(ProcessInstance next, String messageId, List<OutgoingEvent> emitted) {
        CommitResult[] result = new CommitResult[1];
        entries.compute(key(next.type(), next.id()), (k, current) -> {
            if (current != null && messageId != null && current.applied.contains(messageId)) {
                result[0] = CommitResult.DUPLICATE;
                return current;
            }
            long stored = current == null ? 0 : current.instance.version();
            if (stored != next.version() - 1) {
                throw new ProcessConflictException("process " + next.type() + "/" + next.id() + " is at version "
                        + stored + ", expected " + (next.version() - 1));
            }
            Set<String> applied = current == null ? new HashSet<>() : new HashSet<>(current.applied);
            if (messageId != null) {
                applied.add(messageId);
            }
            result[0] = CommitResult.COMMITTED;
            return new Entry(next, applied);
        });
        return result[0];
    }

    @Override
    public List<ProcessInstance> due(Collection<String> types, Instant now, int limit) {
        List<ProcessInstance> out = new ArrayList<>();
        for (Entry e : entries.values()) {
            ProcessInstance p = e.instance;
            if (p.deadline() != null && !p.deadline().isAfter(now) && types.contains(p.type()) && !p.isFinished()) {
                out.add(p);
            }
        }
        out.sort(Comparator.comparing(ProcessInstance::deadline));
        return out.size() > limit ? out.subList(0, limit) : out;
    }

    @Override
    public boolean publishesEmitted() {
        return false;
    }

    /** How many processes are stored. */
    public int size() {
        return entries.size();
    }

    @Override
    public String toString() {
        return "InMemoryProcessStore{" + entries.size() + " processes}";
    }
}
