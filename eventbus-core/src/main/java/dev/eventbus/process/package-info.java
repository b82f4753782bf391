/**
 * Long-running processes on the bus: sagas with compensation, and aggregations of events, with their state kept in
 * a {@link dev.eventbus.process.ProcessStore} keyed by process type + correlation id.
 *
 * <h2>Sagas</h2>
 * A {@link dev.eventbus.process.SagaDefinition} lists steps; each step publishes its action (a command built from the
 * start event), waits for the reply that completes it, and names the command that undoes it:
 *
 * <pre>{@code
 * SagaDefinition<OrderPlaced> orderSaga = SagaDefinition.builder("order-saga", OrderPlaced.class, OrderPlaced::orderId)
 *     .step("reserve-stock", o -> new ReserveStock(o.orderId(), o.sku(), o.quantity()))
 *         .completedBy(StockReserved.class, StockReserved::orderId)
 *         .failedBy(OutOfStock.class, OutOfStock::orderId)
 *         .compensateWith(o -> new ReleaseStock(o.orderId(), o.sku(), o.quantity()))
 *         .timeout(Duration.ofSeconds(30))
 *     .step("charge-payment", o -> new ChargePayment(o.orderId(), o.amount()))
 *         .completedBy(PaymentCharged.class, PaymentCharged::orderId)
 *         .failedBy(PaymentDeclined.class, PaymentDeclined::orderId)
 *         .compensateWith(o -> new RefundPayment(o.orderId(), o.amount()))
 *     .step("ship", o -> new ShipOrder(o.orderId()))
 *         .completedBy(OrderShipped.class, OrderShipped::orderId)
 *     .onCompensated(o -> new OrderCancelled(o.orderId()))
 *     .build();
 *
 * ProcessManager processes = ProcessManager.builder(bus, new InMemoryProcessStore()).saga(orderSaga).build();
 * bus.publish(new OrderPlaced("o-1", "sku-7", 2, 4999));
 * processes.status("order-saga", "o-1");   // ProcessView: COMPENSATED, completed [reserve-stock],
 *                                          // compensated [reserve-stock], history of every step
 * }</pre>
 *
 * The participants are ordinary {@code @Subscribe} methods: the stock service takes {@code ReserveStock} and
 * publishes {@code StockReserved} or {@code OutOfStock}. The saga advances on a completion reply whose correlation id
 * (the function given with its type, or the envelope's correlation id, which a participant passes on by publishing
 * while it handles the command) is the saga's id. On a failure reply or the step's timeout it sends the
 * compensations of the completed steps, last first. {@code compensatedBy(reply, correlation)} makes it wait for each
 * compensation's confirmation before the one before (strict reverse order across services); without it the
 * compensations are emitted in one commit, in reverse order, keyed by the saga id, which a transport keeping per-key
 * order delivers in that order. A completion that arrives after its step timed out is compensated as well.
 *
 * <h2>Aggregations</h2>
 * An {@link dev.eventbus.process.AggregatorDefinition} collects one event of each listed type per correlation id, in
 * any order, and publishes a composite when all are there, or a partial event when its window closes first:
 *
 * <pre>{@code
 * AggregatorDefinition activation = AggregatorDefinition.builder("user-activation")
 *     .collect(UserRegistered.class, UserRegistered::userId)
 *     .collect(EmailVerified.class, EmailVerified::userId)
 *     .collect(ProfileCompleted.class, ProfileCompleted::userId)
 *     .onComplete(parts -> new UserActivated(parts.id(), parts.get(UserRegistered.class).email()))
 *     .window(Duration.ofDays(7), parts -> new ActivationIncomplete(parts.id(), parts.received()))
 *     .build();
 * }</pre>
 *
 * A repeated part is ignored (the first counts); parts after completion or after the window are ignored.
 *
 * <h2>Exactly once, and one transaction</h2>
 * The {@link dev.eventbus.process.ProcessManager} applies each event as a pure transition of the stored state and
 * commits, in one {@link dev.eventbus.process.ProcessStore#commit}: the new state (if the version is still the one
 * read: optimistic concurrency, reapplied on a conflict), the id of the message applied (a redelivered message is a
 * duplicate and changes nothing), and the events the transition emits. With {@code dev.eventbus.jdbc.JdbcProcessStore}
 * (module {@code eventbus-jdbc-outbox}) that is one database transaction with the emitted events in the
 * transactional outbox: a crash either loses the whole step (the incoming message is redelivered and applied) or
 * none of it (its commands are relayed, its message is a duplicate). A new bus on the same database resumes every
 * saga where it stopped, without repeating or skipping a step. {@link dev.eventbus.process.InMemoryProcessStore}
 * publishes after its in-memory commit: for tests and single-process programs.
 *
 * <h2>Timeouts</h2>
 * A process's deadline (a saga step's timeout, an aggregation's window) is stored with it. A poller thread of the
 * manager fires due deadlines every {@code timeoutPollInterval} (1 s): this works on every transport, including
 * Kafka, which has no delayed delivery (on JDBC the poll is an indexed query on the deadline column, so any instance
 * fires it, and a crashed instance's deadlines fire on the others). Where delayed delivery exists the manager also
 * emits a delayed {@link dev.eventbus.process.ProcessTimeout} with the state change ({@code delayedTimeouts}: on by
 * default with the JDBC store, whose outbox relay holds a delayed row until it is due for any target). A timeout
 * fires once: its id {@code timeout:<deadline>} is recorded as applied, and the stored deadline must be unchanged.
 *
 * <h2>Status</h2>
 * {@link dev.eventbus.process.ProcessManager#status(String, String)} answers where process X is: its
 * {@link dev.eventbus.process.ProcessStatus}, the step it waits on, the steps that completed, the ones compensated,
 * and a history line for each thing that happened.
 *
 * <h2>Rules for definitions</h2>
 * Functions (actions, compensations, composites, correlations) must be pure and fast: a transition may run again
 * after a conflict. Start events and parts are stored as JSON with Jackson. Each event type has one role per
 * definition. Definitions are immutable and thread-safe; a manager is thread-safe and closed by whoever built it.
 */
package dev.eventbus.process;
