package dev.eventbus.jdbc;

import dev.eventbus.jdbc.internal.Schema;

import java.util.List;
import java.util.Locale;

/**
 * The DDL this module needs, per dialect and per part, as shipped in the resources
 * {@code dev/eventbus/jdbc/schema/<dialect>/<part>.sql} with the table prefix filled in.
 *
 * <p>Run it yourself (or through your migration tool) when {@code eventbus.jdbc.create-schema} is {@code never};
 * print it with {@code java -cp eventbus-jdbc-outbox.jar dev.eventbus.jdbc.JdbcSchema postgresql eventbus_ outbox}.
 *
 * <p>Stateless and thread-safe.
 */
public final class JdbcSchema {

    /** The parts of the schema; each component checks and creates only its own. */
    public enum Part {
        /** The JDBC transport: stream, log, cursor, member, retry and dead_letter tables. */
        TRANSPORT,
        /** The transactional outbox and its relay: outbox, outbox_lease and outbox_relay tables. */
        OUTBOX,
        /** The inbox (idempotent consumers): the inbox table. */
        INBOX;

        String resource() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private JdbcSchema() {
    }

    /**
     * The DDL script for one part, prefix filled in, statements separated by {@code ;} and new lines.
     *
     * @param tablePrefix validated like {@code eventbus.jdbc.table-prefix}: letters, digits and underscores,
     *                    optionally {@code schema.} in front
     * @throws IllegalArgumentException when the prefix is not a safe SQL name
     */
    public static String ddl(JdbcDialect dialect, String tablePrefix, Part part) {
        return Schema.script(dialect, Schema.validPrefix(tablePrefix), part.resource());
    }

    /** The statements of {@link #ddl}, one per element, comments removed. */
    public static List<String> statements(JdbcDialect dialect, String tablePrefix, Part part) {
        return Schema.statements(dialect, Schema.validPrefix(tablePrefix), part.resource());
    }

    /** Prints the DDL: {@code JdbcSchema <h2|postgresql|mariadb> [prefix] [transport|outbox|inbox]}. */
    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: JdbcSchema <h2|postgresql|mariadb> [table-prefix] [transport|outbox|inbox]");
            System.exit(2);
        }
        JdbcDialect dialect = JdbcDialect.named(args[0]);
        String prefix = args.length > 1 ? args[1] : JdbcConfig.DEFAULT_TABLE_PREFIX;
        if (args.length > 2) {
            System.out.println(ddl(dialect, prefix, Part.valueOf(args[2].toUpperCase(Locale.ROOT))));
        } else {
            for (Part p : Part.values()) {
                System.out.println(ddl(dialect, prefix, p));
            }
        }
    }
}
