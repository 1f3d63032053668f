// The dump's snapshot: a REPEATABLE READ read-only transaction whose snapshot pg_dump shares
// (`--snapshot`), and the facts verification checks the restore against, read in that same snapshot:
// exact row counts, newest migration, RLS tables, extensions. The transaction stays open until every
// pg_dump that uses the snapshot has finished. The facts are read by `readFacts()` while pg_dump runs:
// the exact counts scan whole tables (~1 s per GB), which need not delay the dump.
import { Client } from "pg";
import { quoteQualified } from "./ident";
import { pgClientConfig } from "./connection";
import { readDumpRoleRights, type DumpRoleRights } from "./dump-role";

export interface SnapshotFacts {
    rowCounts: Record<string, number>;
    migrationVersion: string | null;
    rlsTables: string[];
    extensions: string[];
}

export interface DbSnapshot {
    id: string;
    serverVersion: string;
    /** pg_database_size(): sizes the S3 parts (at most 10 000 of them) */
    databaseBytes: number;
    /** the facts, read in the snapshot (on its connection, one query at a time) */
    readFacts(): Promise<SnapshotFacts>;
    /** what the connecting role could do besides reading (a warning and a metric when it can write); undefined if unreadable */
    role?: DumpRoleRights;
    /** end the transaction and the connection (idempotent) */
    close(): Promise<void>;
    /** rejects if the connection to the database is lost while the snapshot is held */
    lost: Promise<never>;
}

export async function openSnapshot(connectionString: string, tables: string[], connectTimeoutMs = 15_000): Promise<DbSnapshot> {
    const client = new Client(pgClientConfig(connectionString, { connectionTimeoutMillis: connectTimeoutMs, application_name: "supabase-backups-dump" }));
    let closed = false;
    let rejectLost!: (e: Error) => void;
    const lost = new Promise<never>((_, reject) => (rejectLost = reject));
    lost.catch(() => undefined);
    client.on("error", (e) => {
        if (!closed) rejectLost(new Error(`lost the database connection holding the snapshot: ${e.message}`));
    });
    client.on("end", () => {
        if (!closed) rejectLost(new Error("the database closed the connection holding the snapshot"));
    });
    await client.connect();
    const close = async () => {
        if (closed) return;
        closed = true;
        await client.query("rollback").catch(() => undefined);
        await client.end().catch(() => undefined);
    };
    // Before the snapshot's transaction: a failure here must not abort it (the check is advisory).
    const role = await readDumpRoleRights(client).catch(() => undefined);
    try {
        await client.query("begin isolation level repeatable read read only");
        const id = (await client.query("select pg_export_snapshot() as id")).rows[0].id as string;
        const serverVersion = (await client.query("show server_version")).rows[0].server_version as string;
        const databaseBytes = Number((await client.query("select pg_database_size(current_database()) as n")).rows[0].n);
        // The configured tables must exist: checked now, before any byte is dumped.
        for (const t of tables) {
            const exists = (await client.query("select to_regclass($1) is not null as ok", [quoteQualified(t)])).rows[0].ok;
            if (!exists) throw new Error(`configured table ${t} (verify.tables) does not exist in the database`);
        }
        let facts: Promise<SnapshotFacts> | undefined;
        return { id, serverVersion, databaseBytes, readFacts: () => (facts ??= readFacts(client, tables)), role, close, lost };
    } catch (e) {
        await close();
        throw e;
    }
}

async function readFacts(client: Client, tables: string[]): Promise<SnapshotFacts> {
    const rowCounts: Record<string, number> = {};
    for (const t of tables) rowCounts[t] = Number((await client.query(`select count(*)::bigint as n from ${quoteQualified(t)}`)).rows[0].n);
    let migrationVersion: string | null = null;
    if ((await client.query("select to_regclass('supabase_migrations.schema_migrations') is not null as ok")).rows[0].ok) {
        migrationVersion = (await client.query("select max(version)::text as v from supabase_migrations.schema_migrations")).rows[0].v ?? null;
    }
    const rlsTables = (
        await client.query(
            `select n.nspname || '.' || c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where c.relrowsecurity and c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'
             order by 1`,
        )
    ).rows.map((r) => r.name as string);
    const extensions = (await client.query("select extname from pg_extension order by 1")).rows.map((r) => r.extname as string);
    return { rowCounts, migrationVersion, rlsTables, extensions };
}
