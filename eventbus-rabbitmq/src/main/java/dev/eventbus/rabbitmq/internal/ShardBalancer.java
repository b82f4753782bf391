package dev.eventbus.rabbitmq.internal;

import com.rabbitmq.client.Channel;
import com.rabbitmq.client.DefaultConsumer;
import com.rabbitmq.client.Recoverable;
import com.rabbitmq.client.RecoveryListener;
import com.rabbitmq.client.ShutdownListener;
import dev.eventbus.EventBusException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Shares a per-key ordered group's shards between its live instances, like Kafka consumers share partitions.
 *
 * <p>Ownership of a shard is an exclusive, auto-delete <em>lock queue</em> {@code …shard-<i>.lock}: only one
 * connection can hold it and the broker drops it when that connection dies. Every rebalance interval the instance
 * counts the group's live instances (consumers of the {@code .members} queue), releases shards above its fair share
 * {@code ceil(shards/instances)} and claims free shards below it, side by side. After a connection recovery the
 * locks are gone with the old connection, so the instance claims afresh instead of restoring its consumers.
 *
 * <p>Thread-safe: rounds run on the transport's balancer thread under {@code balanceLock}; {@code owned} has its
 * own monitor for the readers on other threads.
 */
final class ShardBalancer {

    private static final Logger log = LoggerFactory.getLogger(ShardBalancer.class);

    private final GroupSubscription sub;
    private final Shared shared;
    private final Names names;
    private final TreeMap<Integer, ChannelConsumer> owned = new TreeMap<>();
    private final Object balanceLock = new Object();
    private ScheduledFuture<?> balancing;
    private Channel membersChannel;
    private ShutdownListener connectionLost;
    private RecoveryListener connectionRecovered;

    ShardBalancer(GroupSubscription sub) {
        this.sub = sub;
        this.shared = sub.shared;
        this.names = sub.names;
    }

    /** Joins the group's members, claims this instance's share and starts the periodic rounds. */
    void start() {
        String members = names.membersQueue(sub.stream, sub.group);
        shared.topology.markerQueue(members);
        try {
            membersChannel = shared.consumerConnection.createChannel();
            membersChannel.basicConsume(members, true, "eventbus-member-" + GroupSubscription.shortId(),
                    new DefaultConsumer(membersChannel));
        } catch (IOException e) {
            throw new EventBusException("RabbitMQ: cannot join the members of group '" + sub.group + "': "
                    + Connections.describe(e), e, true);
        }
        connectionLost = cause -> {
            if (!cause.isInitiatedByApplication()) {
                synchronized (owned) {
                    owned.values().forEach(c -> {
                        c.lost = true;
                        c.released = true;
                    });
                }
            }
        };
        shared.consumerConnection.addShutdownListener(connectionLost);
        if (shared.consumerConnection instanceof Recoverable r) {
            connectionRecovered = new RecoveryListener() {
                @Override
                public void handleRecovery(Recoverable recoverable) {
                    shared.balancer.execute(ShardBalancer.this::afterRecovery);
                }

                @Override
                public void handleRecoveryStarted(Recoverable recoverable) {
                }
            };
            r.addRecoveryListener(connectionRecovered);
        }
        balance();
        long every = shared.config.rebalanceInterval().toMillis();
        balancing = shared.balancer.scheduleWithFixedDelay(this::balanceQuietly, every, every, TimeUnit.MILLISECONDS);
    }

    private void balanceQuietly() {
        if (!shared.consumerConnection.isOpen()) {
            return; // recovering: the recovery listener rebalances once the connection is back
        }
        try {
            balance();
        } catch (RuntimeException e) {
            log.warn("group '{}' on '{}': shard rebalancing failed this round: {}", sub.group, sub.stream, e.getMessage());
        }
    }

    /** Releases shards above this instance's fair share and claims free ones below it. */
    private void balance() {
        synchronized (balanceLock) {
            if (sub.closing()) {
                return;
            }
            int n = shared.config.shards();
            int members = Math.max(1, consumerCount(names.membersQueue(sub.stream, sub.group)));
            int ceil = (n + members - 1) / members;
            List<Map.Entry<Integer, ChannelConsumer>> mine;
            synchronized (owned) {
                owned.values().removeIf(c -> c.released && !c.getChannel().isOpen());
                mine = new ArrayList<>(owned.entrySet());
            }
            if (mine.size() > ceil) {
                for (int i = mine.size() - 1; i >= ceil; i--) {
                    release(mine.get(i).getKey(), mine.get(i).getValue());
                }
                return;
            }
            int have = mine.size();
            int start = Math.floorMod(System.identityHashCode(this), n);
            List<Integer> free = new ArrayList<>();
            synchronized (owned) {
                for (int k = 0; k < n; k++) {
                    int shard = (start + k) % n;
                    if (!owned.containsKey(shard)) {
                        free.add(shard);
                    }
                }
            }
            // Claim in waves of exactly the shards still missing, side by side: one after the other, eight claims
            // of a few round trips each held the first shards' consumers alone for ~170 ms at start.
            int next = 0;
            while (have < ceil && next < free.size() && !sub.closing()) {
                int wave = Math.min(ceil - have, free.size() - next);
                have += claimAll(free.subList(next, next + wave));
                next += wave;
            }
        }
    }

    /** Claims {@code shards} side by side; returns how many were taken. */
    private int claimAll(List<Integer> shards) {
        if (shards.size() == 1) {
            return claim(shards.get(0)) ? 1 : 0;
        }
        List<CompletableFuture<Boolean>> claims = new ArrayList<>(shards.size());
        for (int shard : shards) {
            claims.add(CompletableFuture.supplyAsync(() -> claim(shard), shared.claims));
        }
        int taken = 0;
        RuntimeException failure = null;
        for (CompletableFuture<Boolean> f : claims) {
            try {
                if (f.join()) {
                    taken++;
                }
            } catch (CompletionException e) {
                RuntimeException cause = e.getCause() instanceof RuntimeException r ? r : e;
                if (failure == null) {
                    failure = cause;
                } else {
                    failure.addSuppressed(cause);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
        return taken;
    }

    private int consumerCount(String queue) {
        return shared.topology.admin("inspect queue '" + queue + "'", ch -> ch.queueDeclarePassive(queue).getConsumerCount());
    }

    /**
     * Takes shard {@code shard} unless another instance holds it: on a fresh channel, checks that nobody consumes
     * the shard queue, takes its lock queue (exclusive: only one connection can hold it) and consumes on the same
     * channel. A refused lock closes that channel, which is then simply dropped.
     */
    private boolean claim(int shard) {
        String queue = names.shardQueue(sub.stream, sub.group, shard);
        String lock = names.shardLock(sub.stream, sub.group, shard);
        Channel ch = null;
        try {
            ch = sub.openChannel();
            if (ch.queueDeclarePassive(queue).getConsumerCount() > 0) {
                GroupSubscription.closeQuietly(ch);
                return false;
            }
            ch.queueDeclare(lock, false, true, true, Map.of("x-queue-type", "classic"));
        } catch (IOException | RuntimeException e) {
            if (Connections.replyCode(e) != 405) {
                log.debug("claiming shard {} of group '{}': {}", shard, sub.group, Connections.describe(e));
            }
            GroupSubscription.closeQuietly(ch);
            return false; // another instance holds it
        }
        int shards = shared.config.shards();
        int prefetch = Math.max(sub.minPrefetch(), (shared.config.prefetch() + shards - 1) / shards);
        try {
            ChannelConsumer c = sub.consumeOn(ch, queue, shard, prefetch,
                    Connections.SHARD_TAG_PREFIX + sub.group + "-" + shard + "-" + GroupSubscription.shortId());
            synchronized (owned) {
                owned.put(shard, c);
            }
            log.debug("group '{}' on '{}': took shard {}", sub.group, sub.stream, shard);
            return true;
        } catch (RuntimeException e) {
            deleteLock(shard);
            throw e;
        }
    }

    /** Hands a shard back: no new deliveries, the running one finishes and is acknowledged, then the lock goes. */
    private void release(int shard, ChannelConsumer c) {
        c.cancel();
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (c.inFlight.get() > 0 && System.nanoTime() - deadline < 0) {
            GroupSubscription.sleep(2);
        }
        c.closeChannel();
        synchronized (owned) {
            owned.remove(shard, c);
        }
        deleteLock(shard);
        log.debug("group '{}' on '{}': released shard {}", sub.group, sub.stream, shard);
    }

    private void deleteLock(int shard) {
        String lock = names.shardLock(sub.stream, sub.group, shard);
        try {
            shared.topology.admin("delete lock '" + lock + "'", ch -> ch.queueDelete(lock));
        } catch (RuntimeException e) {
            log.debug("deleting shard lock {}: {}", lock, e.getMessage());
        }
    }

    /** After a connection recovery: the locks died with the old connection, so claim afresh. */
    private void afterRecovery() {
        synchronized (balanceLock) {
            List<ChannelConsumer> lost;
            synchronized (owned) {
                lost = new ArrayList<>(owned.values());
                owned.clear();
            }
            for (ChannelConsumer c : lost) {
                c.lost = true;
                c.released = true;
                GroupSubscription.closeQuietly(c.getChannel());
            }
        }
        balanceQuietly();
    }

    void consumerCancelled(ChannelConsumer c) {
        synchronized (owned) {
            owned.remove(c.shard, c);
        }
    }

    boolean awaitBalanced(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() - deadline < 0) {
            int n = shared.config.shards();
            int members = Math.max(1, consumerCount(names.membersQueue(sub.stream, sub.group)));
            int have;
            synchronized (owned) {
                have = owned.size();
            }
            if (have >= n / members && have <= (n + members - 1) / members) {
                return true;
            }
            GroupSubscription.sleep(20);
        }
        return false;
    }

    Set<Integer> ownedShards() {
        synchronized (owned) {
            return Set.copyOf(owned.keySet());
        }
    }

    /** Stops the rounds (waiting for one in progress) and returns the shard consumers to cancel. */
    List<ChannelConsumer> stop() {
        if (balancing != null) {
            balancing.cancel(false);
        }
        synchronized (balanceLock) {
            synchronized (owned) {
                return new ArrayList<>(owned.values());
            }
        }
    }

    /** After the channels closed: drops the locks, leaves the members and the connection's listeners. */
    void releaseAll(List<ChannelConsumer> closed) {
        synchronized (balanceLock) {
            for (ChannelConsumer c : closed) {
                if (c.shard >= 0) {
                    deleteLock(c.shard);
                }
            }
            synchronized (owned) {
                owned.clear();
            }
        }
        GroupSubscription.closeQuietly(membersChannel);
        if (connectionLost != null) {
            shared.consumerConnection.removeShutdownListener(connectionLost);
        }
        if (connectionRecovered != null && shared.consumerConnection instanceof Recoverable r) {
            r.removeRecoveryListener(connectionRecovered);
        }
    }
}
