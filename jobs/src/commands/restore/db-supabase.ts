// `restore db` into an existing Supabase project, split the way `supabase db dump` splits a project
// (roles, schema, data): the platform's managed schemas, extensions' own objects, event triggers and the
// realtime publication already exist in every project and belong to supabase_admin, so their
// definitions are left out (restoring them is the known "must be owner" failure of a plain
// pg_dump/pg_restore); the data of auth and storage comes along. Three pg_restore passes over one spool
// with -L use-lists: pre-data (schema), data (triggers off: session_replication_role = replica, as the
// CLI's data dump does), post-data (indexes, constraints, policies, -j).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Client } from "pg";
import { JobFailure } from "../../runtime/errors";
import { parseToc, type Skipped, type TocEntry } from "../../postgres/toc";
import { isDataExcluded, isManagedSchema } from "../../supabase/managed";
import type { DataError } from "../../postgres/restore-errors";
import { runTool, type ProcResult } from "./db-steps";

/** A Supabase project's database: the platform's superuser role and its auth schema exist. */
export async function isSupabaseProject(c: Client): Promise<boolean> {
    const r = await c.query(`select exists (select 1 from pg_roles where rolname = 'supabase_admin') and to_regnamespace('auth') is not null as yes`);
    return r.rows[0].yes === true;
}

const DATA_KINDS = new Set(["TABLE DATA", "SEQUENCE SET", "BLOB", "BLOBS", "BLOB DATA", "LARGE OBJECT"]);

/** Why a schema entry is left out of a restore into a project, or undefined to keep it. */
function schemaSkip(e: TocEntry): string | undefined {
    const ofSchema = /^SCHEMA "?([^"\s]+)"?$/.exec(e.name)?.[1];
    if (isManagedSchema(e.schema) || (e.schema === "-" && ofSchema && isManagedSchema(ofSchema)) || (e.desc === "SCHEMA" && isManagedSchema(e.name))) return "managed by Supabase: exists in every project";
    if (e.desc === "EVENT TRIGGER") return "Supabase's event triggers exist in every project";
    if (e.desc.startsWith("PUBLICATION") && e.name.startsWith("supabase_realtime")) return "Supabase's realtime publication exists in every project";
    if (e.desc === "COMMENT" && /^EXTENSION /.test(e.name)) return "extensions belong to supabase_admin";
    if (e.desc === "DEFAULT ACL" && e.owner === "supabase_admin") return "supabase_admin's default privileges are the platform's";
    return undefined;
}

export interface SupabaseLists {
    schema: string;
    data: string;
    /** the tables whose data the data list loads */
    dataTables: Array<{ schema: string; name: string }>;
    skipped: Skipped[];
}

/** The schema and data use-lists of a restore into an existing project. */
export function supabaseLists(entries: TocEntry[]): SupabaseLists {
    const schema: string[] = [];
    const data: string[] = [];
    const dataTables: Array<{ schema: string; name: string }> = [];
    const skipped: Skipped[] = [];
    for (const e of entries) {
        if (DATA_KINDS.has(e.desc)) {
            if (isDataExcluded(e.schema, e.name)) skipped.push({ entry: `${e.desc} ${e.schema} ${e.name}`, why: "platform data the new project has its own of" });
            else {
                data.push(e.line);
                if (e.desc === "TABLE DATA") dataTables.push({ schema: e.schema, name: e.name });
            }
            continue;
        }
        const why = schemaSkip(e);
        if (why) skipped.push({ entry: `${e.desc} ${e.schema === "-" ? "" : e.schema + " "}${e.name}`, why });
        else schema.push(e.line);
    }
    return { schema: schema.join("\n") + "\n", data: data.join("\n") + "\n", dataTables, skipped };
}

/** The three passes; errors are counted like a plain restore's (the row counts decide afterwards). */
export async function restoreIntoSupabase(env: NodeJS.ProcessEnv, spool: string, dir: string, jobs: number, clean: boolean): Promise<ProcResult & { skipped: Skipped[]; dataUnattributed: string[] }> {
    const toc = await runTool("pg_restore", ["--list", spool], env, { captureStdout: true });
    if (toc.code !== 0) throw new JobFailure(`pg_restore --list failed: ${toc.errors[0] ?? `exit ${toc.code}`}`);
    const lists = supabaseLists(parseToc(toc.stdout ?? ""));
    const schemaList = join(dir, "schema.list");
    const dataList = join(dir, "data.list");
    await writeFile(schemaList, lists.schema);
    await writeFile(dataList, lists.data);
    const db = ["--no-password", "--no-owner", "--dbname", env.PGDATABASE ?? "postgres"];
    // --clean drops only what the list holds: never a managed object
    const pre = await runTool("pg_restore", [...db, "--section=pre-data", ...(clean ? ["--clean", "--if-exists"] : []), "--use-list", schemaList, spool], env);
    const replica = { ...env, PGOPTIONS: `${env.PGOPTIONS ?? ""} -c session_replication_role=replica`.trim() };
    const rows = await runTool("pg_restore", [...db, "--section=data", "--use-list", dataList, "--jobs", String(jobs), spool], replica);
    const post = await runTool("pg_restore", [...db, "--section=post-data", "--use-list", schemaList, "--jobs", String(jobs), spool], env);
    const all = [pre, rows, post];
    return {
        code: all.find((r) => r.code !== 0)?.code ?? 0,
        errors: all.flatMap((r) => r.errors).slice(0, 5),
        errorCount: all.reduce((n, r) => n + r.errorCount, 0),
        dataErrors: qualifyDataErrors(all.flatMap((r) => r.dataErrors ?? []), lists.dataTables),
        // errors of the data pass that name no table (a sequence's setval, a large object) count as data errors too
        dataUnattributed: rows.errorCount > (rows.dataErrors?.length ?? 0) ? rows.errors : [],
        skipped: lists.skipped,
    };
}

/**
 * pg_restore names a table whose COPY failed without its schema: the data entries of the use-list say
 * which one (every candidate when two schemas have a table of that name, so none is missed).
 */
export function qualifyDataErrors(errors: DataError[], dataTables: Array<{ schema: string; name: string }>): DataError[] {
    return errors.flatMap((e) => {
        if (dataTables.some((t) => `${t.schema}.${t.name}` === e.table)) return [e];
        const candidates = dataTables.filter((t) => t.name === e.table);
        return candidates.length ? candidates.map((t) => ({ ...e, table: `${t.schema}.${t.name}` })) : [e];
    });
}
