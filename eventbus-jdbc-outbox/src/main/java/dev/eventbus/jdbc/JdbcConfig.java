package dev.eventbus.jdbc;

/**
 * Configuration keys of the JDBC module, read from {@code eventbus.properties}, system properties or
 * {@code EVENTBUS_*} environment variables (through {@code EventBus.fromConfig}) or passed to the builders'
 * {@code config(...)} methods. Durations take {@code 250ms}, {@code 5s}, {@code 2m}, {@code 1h}, {@code 7d} or
 * ISO-8601 ({@code PT5S}). A bad value fails when the component is built, with a
 * {@link dev.eventbus.ConfigException} naming the key and what is allowed.
 *
 * <p>Constants only; thread-safe.
 */
public final class JdbcConfig {

    private JdbcConfig() {
    }

    /** Every key of this module (not the defaults), for typo checks and environment-variable mapping. */
    public static java.util.Set<String> keys() {
        java.util.Set<String> out = new java.util.TreeSet<>();
        for (java.lang.reflect.Field f : JdbcConfig.class.getFields()) {
            if (f.getType() == String.class && !f.getName().startsWith("DEFAULT_")) {
                try {
                    out.add((String) f.get(null));
                } catch (IllegalAccessException e) {
                    throw new IllegalStateException(e);
                }
            }
        }
        return java.util.Collections.unmodifiableSet(out);
    }

    /**
     * Fails on an {@code eventbus.jdbc.*} key this module does not know (a typo would otherwise be ignored).
     *
     * @throws dev.eventbus.ConfigException naming the key and listing the known ones
     */
    static void checkKnown(java.util.Map<String, String> config) {
        java.util.Set<String> known = keys();
        for (String k : config.keySet()) {
            if (k.startsWith("eventbus.jdbc.") && !known.contains(k)) {
                throw new dev.eventbus.ConfigException(k, config.get(k), "a known key, one of " + known);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------- database

    /**
     * JDBC URL of the database, when no {@code DataSource} is passed. Default {@value #DEFAULT_URL}: an H2 file
     * database in the working directory, the durable embedded default. Drivers are the application's: without
     * the driver for the URL's scheme on the classpath ({@code com.h2database:h2} for the default,
     * {@code org.postgresql:postgresql}, {@code org.mariadb.jdbc:mariadb-java-client},
     * {@code com.mysql:mysql-connector-j}) the transport fails when built, naming this key and the artifact.
     * Printed without its parameters and credentials.
     */
    public static final String URL = "eventbus.jdbc.url";
    /** The default {@link #URL}. */
    public static final String DEFAULT_URL = "jdbc:h2:file:./eventbus-data/eventbus;WRITE_DELAY=0";
    /**
     * How long opening a connection to {@link #URL} may take before it fails (TCP connect and login), so that an
     * unreachable database is reported at once instead of hanging. Passed to the PostgreSQL, MariaDB and MySQL
     * drivers unless the URL sets its own {@code connectTimeout}. Default {@value #DEFAULT_CONNECT_TIMEOUT}.
     */
    public static final String CONNECT_TIMEOUT = "eventbus.jdbc.connect-timeout";
    /** The default {@link #CONNECT_TIMEOUT}. */
    public static final String DEFAULT_CONNECT_TIMEOUT = "10s";
    /** Database user for {@link #URL}. Optional. */
    public static final String USER = "eventbus.jdbc.user";
    /** Database password for {@link #URL}. Optional; never logged. */
    public static final String PASSWORD = "eventbus.jdbc.password";
    /** {@code h2}, {@code postgresql} or {@code mariadb} ({@code mysql}); default: detected from the database. */
    public static final String DIALECT = "eventbus.jdbc.dialect";
    /**
     * Prefix of every table name, default {@value #DEFAULT_TABLE_PREFIX}: letters, digits and underscores (at most
     * 40), optionally preceded by {@code schema.}. Validated, so no SQL can come in through a name.
     */
    public static final String TABLE_PREFIX = "eventbus.jdbc.table-prefix";
    /** The default {@link #TABLE_PREFIX}. */
    public static final String DEFAULT_TABLE_PREFIX = "eventbus_";
    /**
     * {@code embedded} (default: create missing tables on H2 only), {@code always} or {@code never}. Whatever the
     * mode, a missing table fails at start with the DDL to run.
     */
    public static final String CREATE_SCHEMA = "eventbus.jdbc.create-schema";

    // ------------------------------------------------------------------------------------------------ transport

    /** Partitions of a new stream (fixed once the stream exists): the unit of work-sharing in a group. Default 16. */
    public static final String PARTITIONS = "eventbus.jdbc.partitions";
    /** Log rows one subscription reads per query, and its bound on messages in flight. Default 256. */
    public static final String FETCH_SIZE = "eventbus.jdbc.fetch-size";
    /**
     * Longest pause between polls of an idle subscription (it backs off from 5 ms up to this). Appends in this
     * JVM and PostgreSQL {@code NOTIFY} wake consumers at once, so this only bounds the latency of appends from
     * other JVMs on H2/MariaDB. Default 500ms.
     */
    public static final String POLL_INTERVAL = "eventbus.jdbc.poll-interval";
    /**
     * How long an instance holds its partitions without renewing them: when it dies, others take over after at
     * most this long. Default 30s. Instances' clocks must agree to well within this (NTP).
     */
    public static final String LEASE = "eventbus.jdbc.lease";
    /**
     * How often a consumer or an outbox relay renews its leases and rebalances partitions with the others.
     * Default 1s.
     */
    public static final String HEARTBEAT_INTERVAL = "eventbus.jdbc.heartbeat-interval";
    /**
     * How often cursors are committed while messages flow (always at once for retries and dead letters, and on
     * close). What a crash redelivers is at most this much. Default 100ms.
     */
    public static final String COMMIT_INTERVAL = "eventbus.jdbc.commit-interval";
    /** Log rows older than this are deleted once every group has read them. Default 7d. */
    public static final String RETENTION = "eventbus.jdbc.retention";
    /** How often log and outbox retention run (bounded batches). Default 1m. */
    public static final String RETENTION_INTERVAL = "eventbus.jdbc.retention-interval";
    /**
     * Where a group that has never read a stream starts: {@code earliest} (default: everything still retained,
     * so events published before the first subscriber are not lost) or {@code latest}.
     */
    public static final String START_POSITION = "eventbus.jdbc.start-position";
    /** Use PostgreSQL {@code LISTEN/NOTIFY} to wake consumers (ignored elsewhere). Default true. */
    public static final String NOTIFY = "eventbus.jdbc.notify";

    // --------------------------------------------------------------------------------------------------- outbox

    /** Rows one relay claims and sends per round. Default 500. */
    public static final String OUTBOX_BATCH_SIZE = "eventbus.jdbc.outbox.batch-size";
    /** Partitions of the outbox (keys are hashed onto them; relays share them). Default 16. */
    public static final String OUTBOX_PARTITIONS = "eventbus.jdbc.outbox.partitions";
    /** Longest pause between polls of an idle relay (it backs off from 5 ms up to this). Default 500ms. */
    public static final String OUTBOX_POLL_INTERVAL = "eventbus.jdbc.outbox.poll-interval";
    /** How long a relay holds its partitions and in-flight rows without renewing them. Default 30s. */
    public static final String OUTBOX_LEASE = "eventbus.jdbc.outbox.lease";
    /** How long the relay waits for the target to acknowledge a batch before leaving it to be retried. Default 10s. */
    public static final String OUTBOX_SEND_TIMEOUT = "eventbus.jdbc.outbox.send-timeout";
    /** Failed sends of one row before it is abandoned (target outages do not count). Default 10. */
    public static final String OUTBOX_MAX_ATTEMPTS = "eventbus.jdbc.outbox.max-attempts";
    /** Wait before the first retry of a failed row; doubles per attempt. Default 1s. */
    public static final String OUTBOX_BACKOFF = "eventbus.jdbc.outbox.backoff";
    /** Longest wait between retries of a failed row, and between rounds while the target is down. Default 5m. */
    public static final String OUTBOX_MAX_BACKOFF = "eventbus.jdbc.outbox.max-backoff";
    /** Published rows are deleted after this long ({@code 0s}: at once, in the round that published them). Default 24h. */
    public static final String OUTBOX_RETENTION = "eventbus.jdbc.outbox.retention";

    // ---------------------------------------------------------------------------------------------------- inbox

    /** Inbox rows (handled event ids) are deleted after this long: the window in which duplicates are caught. Default 7d. */
    public static final String INBOX_RETENTION = "eventbus.jdbc.inbox.retention";
}
