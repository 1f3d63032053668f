// The source role the dump connects as (docs/security.md "The writer's database role"). pg_dump needs to
// read every table, sequence and large object, with RLS out of the way, and nothing else: a role with
// pg_read_all_data (PostgreSQL 14+) and BYPASSRLS does that, so a stolen writer Secret can read the source
// (as it could anyway) but not change it. This module holds the setup SQL an operator runs once and the
// check each dump runs: is the role a superuser, or can it write?
import type { Client } from "pg";
import { quoteIdent } from "./ident";

export const DEFAULT_DUMP_ROLE = "backup_reader";

/**
 * The SQL to run once, as `postgres` (Supabase's SQL editor or psql), to make the read-only dump role.
 * Idempotent. The password is set separately (`\password <role>` in psql, or ALTER ROLE … PASSWORD),
 * so it never lands in a file or in history through this text.
 */
export function dumpRoleSetupSql(role = DEFAULT_DUMP_ROLE): string {
    const r = quoteIdent(role);
    const lit = role.replace(/'/g, "''");
    return `-- supabase-backups: the read-only role the dump connects as (docs/security.md "The writer's database role").
-- Run once as postgres; then set its password with \\password ${role} (psql) or ALTER ROLE ${r} PASSWORD '…',
-- and use it in DATABASE_URL (Supabase's pooler: postgresql://${role}.<project-ref>:<password>@<pooler-host>:5432/postgres).
do $$
begin
  if not exists (select 1 from pg_roles where rolname = '${lit}') then
    create role ${r} login;
  end if;
end $$;
-- may log in, may not create or own anything, may not grant itself anything
alter role ${r} login nosuperuser nocreatedb nocreaterole noreplication bypassrls;
-- SELECT on every table, view and sequence, USAGE on every schema (PostgreSQL 14+): pg_dump's reads
grant pg_read_all_data to ${r};
-- Large objects are not covered by pg_read_all_data: grant SELECT on those that exist (re-run after
-- creating new ones; Supabase apps rarely use them, Storage does not).
do $$
declare lo oid;
begin
  for lo in select oid from pg_largeobject_metadata loop
    execute format('grant select on large object %s to ${r.replace(/'/g, "''")}', lo);
  end loop;
end $$;
-- Every session read-only, whatever a client asks for (a second lock besides the missing privileges).
alter role ${r} set default_transaction_read_only = on;
`;
}

/** What the dump's role could do to the source beyond reading; empty `writes` = read-only. */
export interface DumpRoleRights {
    role: string;
    superuser: boolean;
    bypassrls: boolean;
    /** why it could write: "superuser", "pg_write_all_data", "CREATEROLE", "INSERT/UPDATE/DELETE/TRUNCATE on 12 tables (auth.users, …)", … */
    writes: string[];
}

/** Read the session role's rights (one query, catalog only; runs inside the dump's read-only snapshot). */
export async function readDumpRoleRights(c: Pick<Client, "query">): Promise<DumpRoleRights> {
    const row = (
        await c.query(
            `with tbl as (
               select n.nspname || '.' || c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
               where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
                 and has_table_privilege(c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')),
             sch as (
               select nspname::text as name from pg_namespace
               where nspname not in ('pg_catalog', 'information_schema') and nspname !~ '^pg_(toast|temp)' and has_schema_privilege(oid, 'CREATE'))
             select r.rolname::text as role, r.rolsuper as superuser, r.rolbypassrls as bypassrls, r.rolcreaterole as createrole,
                    pg_has_role(current_user, 'pg_write_all_data', 'member') as write_all,
                    has_database_privilege(current_database(), 'CREATE') as create_in_db,
                    (select count(*)::int from tbl) as tables, (select array_agg(name order by name) from (select name from tbl order by name limit 3) t) as table_sample,
                    (select array_agg(name order by name) from sch) as schemas
             from pg_roles r where r.rolname = current_user`,
        )
    ).rows[0];
    return { role: row.role, superuser: row.superuser, bypassrls: row.bypassrls, writes: writeReasons(row) };
}

/** The reasons, most serious first (pure: the row of the query above). */
export function writeReasons(row: { superuser: boolean; createrole: boolean; write_all: boolean; create_in_db: boolean; tables: number; table_sample: string[] | null; schemas: string[] | null }): string[] {
    const out: string[] = [];
    if (row.superuser) out.push("superuser");
    if (row.write_all) out.push("member of pg_write_all_data");
    if (row.createrole) out.push("CREATEROLE (can grant itself other roles' rights)");
    if (row.tables > 0) out.push(`INSERT/UPDATE/DELETE/TRUNCATE on ${row.tables} table(s) (${(row.table_sample ?? []).join(", ")}${row.tables > 3 ? ", …" : ""})`);
    if (row.schemas?.length) out.push(`CREATE in schema(s) ${row.schemas.slice(0, 3).join(", ")}${row.schemas.length > 3 ? ", …" : ""}`);
    if (row.create_in_db) out.push("CREATE on the database (new schemas)");
    return out;
}

/** One line for the log when the role can write; undefined when it is read-only. */
export function dumpRoleWarning(r: DumpRoleRights): string | undefined {
    if (!r.writes.length) return undefined;
    return `the dump connects as ${r.role}, which can change the source (${r.writes.join("; ")}): use a read-only role (supabase-backups dump --print-role-sql)`;
}
