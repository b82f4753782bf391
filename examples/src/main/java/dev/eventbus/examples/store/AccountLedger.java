package dev.eventbus.examples.store;

import dev.eventbus.EventBus;
import dev.eventbus.EventType;
import dev.eventbus.jdbc.JdbcEventStore;
import dev.eventbus.jdbc.JdbcProjection;
import dev.eventbus.jdbc.JdbcProjector;
import dev.eventbus.jdbc.OutboxRelay;
import dev.eventbus.store.Aggregate;
import dev.eventbus.store.AggregateRepository;
import dev.eventbus.store.ConcurrencyException;
import dev.eventbus.store.ExpectedVersion;
import dev.eventbus.store.ProjectionStatus;
import dev.eventbus.store.RecordedEvent;
import org.h2.jdbcx.JdbcDataSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Event sourcing on an H2 file: bank accounts are aggregates whose state is folded from their events, saved with
 * optimistic concurrency; every appended event is also published (through the outbox, to a subscriber); a
 * projection keeps a balance table up to date with its checkpoint in the same transaction, and is rebuilt from
 * position 1 into a fresh table at the end. Exits 0 when everything checked out.
 */
public final class AccountLedger {

    @EventType(name = "account.opened", stream = "accounts")
    public record AccountOpened(String accountId, String owner) {
    }

    @EventType(name = "account.deposited", stream = "accounts")
    public record MoneyDeposited(String accountId, long cents) {
    }

    @EventType(name = "account.withdrawn", stream = "accounts")
    public record MoneyWithdrawn(String accountId, long cents) {
    }

    /** The aggregate's state: what the events say, nothing else. */
    public record Account(String owner, long cents) {
        static Account none() {
            return new Account("", 0);
        }

        Account apply(Object event) {
            if (event instanceof AccountOpened o) {
                return new Account(o.owner(), 0);
            }
            if (event instanceof MoneyDeposited d) {
                return new Account(owner, cents + d.cents());
            }
            if (event instanceof MoneyWithdrawn w) {
                return new Account(owner, cents - w.cents());
            }
            return this;
        }
    }

    /** The read model: one row per account with its balance and how many events touched it. */
    static final class Balances implements JdbcProjection {
        @Override
        public String name() {
            return "balances";
        }

        @Override
        public void createReadModel(Connection c, ReadModel m) throws SQLException {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE TABLE IF NOT EXISTS " + m.table("balance") + " (account VARCHAR(64) PRIMARY KEY,"
                        + " owner VARCHAR(100), cents BIGINT NOT NULL, events INT NOT NULL)");
            }
        }

        @Override
        public void apply(RecordedEvent<?> e, Connection c, ReadModel m) throws SQLException {
            String sql;
            Object[] args;
            if (e.event() instanceof AccountOpened o) {
                sql = "INSERT INTO " + m.table("balance") + " (account, owner, cents, events) VALUES (?, ?, 0, 1)";
                args = new Object[] {o.accountId(), o.owner()};
            } else if (e.event() instanceof MoneyDeposited d) {
                sql = "UPDATE " + m.table("balance") + " SET cents = cents + ?, events = events + 1 WHERE account = ?";
                args = new Object[] {d.cents(), d.accountId()};
            } else if (e.event() instanceof MoneyWithdrawn w) {
                sql = "UPDATE " + m.table("balance") + " SET cents = cents - ?, events = events + 1 WHERE account = ?";
                args = new Object[] {w.cents(), w.accountId()};
            } else {
                return;
            }
            try (PreparedStatement ps = c.prepareStatement(sql)) {
                for (int i = 0; i < args.length; i++) {
                    ps.setObject(i + 1, args[i]);
                }
                ps.executeUpdate();
            }
        }

        @Override
        public void dropReadModel(Connection c, ReadModel m) throws SQLException {
            try (Statement s = c.createStatement()) {
                s.execute("DROP TABLE IF EXISTS " + m.table("balance"));
            }
        }
    }

    private AccountLedger() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("eventbus-ledger-");
        JdbcDataSource ds = new JdbcDataSource();
        ds.setURL("jdbc:h2:file:" + dir.resolve("ledger") + ";WRITE_DELAY=0");
        say("Account ledger: event store, outbox and read model in one H2 file database in %s", dir);
        boolean ok = true;
        AtomicInteger published = new AtomicInteger();
        try (EventBus bus = EventBus.builder().service("ledger").eventType(AccountOpened.class)
                .eventType(MoneyDeposited.class).eventType(MoneyWithdrawn.class).build()) {
            bus.subscribe(MoneyDeposited.class, d -> published.incrementAndGet());
            bus.subscribe(MoneyWithdrawn.class, w -> published.incrementAndGet());
            bus.subscribe(AccountOpened.class, o -> published.incrementAndGet());
            JdbcEventStore store = JdbcEventStore.builder(ds).bus(bus).build();
            AggregateRepository<Account> accounts = AggregateRepository.builder(store, Account::none, Account::apply)
                    .snapshotEvery(5, Account.class).build();

            say("\n1. Commands become events; state is the fold of a stream's events");
            store.append("acc-ada", ExpectedVersion.noStream(), List.of(new AccountOpened("acc-ada", "Ada")));
            store.append("acc-bob", ExpectedVersion.noStream(), List.of(new AccountOpened("acc-bob", "Bob")));
            for (int i = 1; i <= 6; i++) {
                long cents = i * 1_000L;
                accounts.update("acc-ada", 3, a -> List.of(new MoneyDeposited("acc-ada", cents)));
            }
            accounts.update("acc-bob", 3, a -> List.of(new MoneyDeposited("acc-bob", 5_000)));
            Aggregate<Account> ada = accounts.load("acc-ada");
            long snapshotAt = store.loadSnapshot("acc-ada", Account.class).map(sn -> sn.version()).orElse(0L);
            say("   acc-ada: %s at version %d (the snapshot taken at version %d plus the %d events after it)",
                    ada.state(), ada.version(), snapshotAt, store.read("acc-ada", snapshotAt + 1).size());
            ok &= ada.state().cents() == 21_000 && ada.version() == 7 && snapshotAt == 5;

            say("\n2. Two tellers load Bob's account at once; the second save is refused");
            Aggregate<Account> teller1 = accounts.load("acc-bob");
            Aggregate<Account> teller2 = accounts.load("acc-bob");
            accounts.save(teller1, new MoneyWithdrawn("acc-bob", 4_000));
            try {
                accounts.save(teller2, new MoneyWithdrawn("acc-bob", 3_000));
                say("   both saves went through: wrong!");
                ok = false;
            } catch (ConcurrencyException e) {
                say("   teller 2: %s", e.getMessage());
                Aggregate<Account> fresh = accounts.load("acc-bob");
                boolean covered = fresh.state().cents() >= 3_000;
                say("   teller 2 reloads: balance %d cents, so the withdrawal of 3000 is %s", fresh.state().cents(),
                        covered ? "made" : "declined");
                ok &= !covered;
            }

            say("\n3. A projection keeps a balance table (checkpoint in the same transaction)");
            JdbcProjector projector = JdbcProjector.builder(store, new Balances()).build();
            long applied = projector.catchUp();
            ProjectionStatus status = projector.status();
            Map<String, String> first = balances(ds, projector.readModel());
            say("   applied %d events; status: position %d, head %d, lag %d", applied, status.position(),
                    status.headPosition(), status.lag());
            say("   %s: %s", projector.readModel().table("balance"), first);
            ok &= status.lag() == 0 && first.equals(Map.of("acc-ada", "Ada 21000 (7 events)",
                    "acc-bob", "Bob 1000 (3 events)"));

            say("\n4. Rebuild: replay from position 1 into a fresh table, switch over when caught up");
            store.append("acc-bob", ExpectedVersion.exactly(3), List.of(new MoneyDeposited("acc-bob", 500)));
            projector.catchUp();
            JdbcProjection.ReadModel old = projector.readModel();
            Map<String, String> before = balances(ds, old);
            say("   %s after one more deposit: %s", old.table("balance"), before);
            JdbcProjection.ReadModel rebuilt = projector.rebuild();
            Map<String, String> second = balances(ds, rebuilt);
            say("   rebuilt; readers now use %s: %s (%s)", rebuilt.table("balance"), second,
                    second.equals(before) ? "identical" : "DIFFERENT");
            ok &= rebuilt.generation() == 2 && projector.readModel().equals(rebuilt) && second.equals(before)
                    && second.equals(Map.of("acc-ada", "Ada 21000 (7 events)", "acc-bob", "Bob 1500 (4 events)"));

            say("\n5. Every appended event was also written to the outbox; a relay publishes them");
            try (OutboxRelay relay = OutboxRelay.builder(ds, bus.transport("memory"))
                    .pollInterval(Duration.ofMillis(50)).build()) {
                long deadline = System.currentTimeMillis() + 30_000;
                while (published.get() < store.headPosition() && System.currentTimeMillis() < deadline) {
                    Thread.sleep(20);
                }
            }
            say("   subscribers received %d of the %d stored events", published.get(), store.headPosition());
            ok &= published.get() == store.headPosition();
        }
        try (java.util.stream.Stream<Path> files = Files.walk(dir)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        } catch (IOException e) {
            say("(could not delete %s)", dir);
        }
        say(ok ? "\nDone: state from events, conflicts refused, read model rebuilt identically, every event published."
                : "\nFAILED: see above.");
        if (!ok) {
            System.exit(1);
        }
    }

    private static Map<String, String> balances(JdbcDataSource ds, JdbcProjection.ReadModel m) throws SQLException {
        Map<String, String> out = new TreeMap<>();
        try (Connection c = ds.getConnection(); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT account, owner, cents, events FROM " + m.table("balance"))) {
            while (rs.next()) {
                out.put(rs.getString(1), rs.getString(2) + " " + rs.getLong(3) + " (" + rs.getInt(4) + " events)");
            }
        }
        return out;
    }

    private static void say(String format, Object... args) {
        System.out.println(String.format(format, args));
    }
}
