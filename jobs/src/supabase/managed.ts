// What Supabase manages in every project's database, as the Supabase CLI's `db dump` leaves it out
// (supabase/cli pkg/migration/dump.go: InternalSchemas, excludedSchemas, reservedRoles). A restore into
// an existing project must not recreate these: they exist already, belong to supabase_admin, and the
// project's `postgres` role may not alter them ("must be owner").

/** Schemas whose definitions a restore into a project leaves out (created by the platform or extensions). */
export const MANAGED_SCHEMAS = [
    "_analytics", "_realtime", "_supavisor", "auth", "etl", "extensions", "pgbouncer", "realtime", "storage",
    "supabase_functions", "supabase_migrations", "cron", "dbdev", "graphql", "graphql_public", "net", "pgmq",
    "pgsodium", "pgsodium_masks", "pgtle", "repack", "tiger", "tiger_data", "topology", "vault",
];
/** Prefixes of managed schema names (timescaledb's). */
export const MANAGED_SCHEMA_PREFIXES = ["timescaledb_", "_timescaledb_", "pg_"];

/**
 * Schemas whose DATA a restore into a project leaves out. auth and storage data (users, bucket rows)
 * move with the project; vault secrets are encrypted with the old project's key and cannot.
 */
export const DATA_EXCLUDED_SCHEMAS = [
    "graphql", "graphql_public", "pgsodium", "pgsodium_masks", "pgtle", "repack", "tiger", "tiger_data", "topology",
    "vault", "etl", "extensions", "pgbouncer", "realtime", "supabase_migrations", "_analytics", "_realtime", "_supavisor",
];
/** Migration bookkeeping of the platform's own services: the new project has its own. */
export const DATA_EXCLUDED_TABLES = ["auth.schema_migrations", "storage.migrations", "supabase_functions.migrations"];

export function isManagedSchema(schema: string): boolean {
    return MANAGED_SCHEMAS.includes(schema) || MANAGED_SCHEMA_PREFIXES.some((p) => schema.startsWith(p));
}

export function isDataExcluded(schema: string, table: string): boolean {
    return DATA_EXCLUDED_SCHEMAS.includes(schema) || MANAGED_SCHEMA_PREFIXES.some((p) => schema.startsWith(p)) || DATA_EXCLUDED_TABLES.includes(`${schema}.${table}`);
}

/**
 * A data-section error a full restore may meet and still be complete: only the platform's own tables
 * whose rows a new project creates itself (the DATA_EXCLUDED_* lists above; a restore into a project
 * leaves them out, a plain full restore may meet them). Any other table's data error — auth.users,
 * auth.identities, storage.objects, every app table — fails the restore (docs/commands/restore.md).
 */
export function isExpectedDataError(table: string): boolean {
    const dot = table.indexOf(".");
    return dot > 0 && isDataExcluded(table.slice(0, dot), table.slice(dot + 1));
}
