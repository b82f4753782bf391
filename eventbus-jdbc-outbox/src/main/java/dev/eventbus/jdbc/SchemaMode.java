package dev.eventbus.jdbc;

/**
 * Whether a component creates its tables at start ({@code eventbus.jdbc.create-schema}).
 *
 * <p>Whatever the mode, a component checks at start that its tables exist and fails with the DDL to run when
 * they do not.
 */
public enum SchemaMode {
    /** Create missing tables and indexes on embedded databases (H2) only; the default, as Spring Batch does. */
    EMBEDDED,
    /** Always create missing tables and indexes ({@code CREATE TABLE IF NOT EXISTS}). */
    ALWAYS,
    /** Never run DDL; the tables must exist (see the DDL resources or {@link JdbcSchema}). */
    NEVER
}
