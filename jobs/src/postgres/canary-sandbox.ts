// The superuser's part of a canary restore, and nothing more (docs/security.md "The canary runs hostile
// code"): the restore itself runs as the canary database's NOSUPERUSER owner (canary.ts), so a function
// in a CHECK constraint, an index expression or a default that calls `COPY … TO PROGRAM`, reads server
// files or was SECURITY DEFINER on the source runs without a superuser's rights and fails. Before it,
// the verifier's superuser creates what only a superuser may: the archive's extensions in their schemas
// (built here from the names pg_restore prints, quoted by ident.ts — never the archive's SQL run as
// superuser), and grants the owner the rows of extension tables the archive carries data for.
import { spawn } from "node:child_process";
import type { Client } from "pg";
import { quoteIdent, quoteTable } from "./ident";
import type { Prepared, TocEntry } from "./toc";

export interface ExtensionPlacement {
    name: string;
    schema: string;
}

/** `CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;` lines → name and schema. */
export function parseExtensionStatements(sql: string): ExtensionPlacement[] {
    const ident = `("(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)`;
    const re = new RegExp(`^CREATE EXTENSION IF NOT EXISTS ${ident} WITH SCHEMA ${ident};$`, "gm");
    const unq = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s);
    const out: ExtensionPlacement[] = [];
    for (let m; (m = re.exec(sql)); ) out.push({ name: unq(m[1]), schema: unq(m[2]) });
    return out;
}

/** The EXTENSION entries' statements, printed by pg_restore from the archive's head (its TOC). */
export function extensionPlacements(bin: string, env: NodeJS.ProcessEnv, head: Buffer, entries: TocEntry[], listFile: string, writeList: (f: string, text: string) => Promise<void>): Promise<ExtensionPlacement[]> {
    const lines = entries.filter((e) => e.desc === "EXTENSION").map((e) => e.line);
    if (!lines.length) return Promise.resolve([]);
    return writeList(listFile, lines.join("\n") + "\n").then(
        () =>
            new Promise((resolve, reject) => {
                const child = spawn(bin, ["--file", "-", "--use-list", listFile], { env, stdio: ["pipe", "pipe", "pipe"] });
                let out = "";
                let err = "";
                child.stdout!.on("data", (d) => (out += d));
                child.stderr!.on("data", (d) => (err += d));
                child.stdin!.on("error", () => undefined); // it stops reading once it has printed them
                child.on("error", (e) => reject(new Error(`cannot run ${bin}: ${e.message}`)));
                child.on("close", (code) => {
                    const found = parseExtensionStatements(out);
                    if (code !== 0 || found.length !== lines.length) reject(new Error(`cannot read the archive's extension statements: ${err.trim().split("\n").pop() || `found ${found.length} of ${lines.length}`}`));
                    else resolve(found);
                });
                child.stdin!.end(head);
            }),
    );
}

const BUILT_IN_SCHEMAS = new Set(["pg_catalog", "public"]);

/**
 * Extensions that open connections from the server (HTTP, other Postgres servers). The canary shares
 * its pod's network with the verifier, so the restored code must not reach them: their functions and
 * tables are revoked from PUBLIC in the canary database (the owner's restore then fails on a call).
 */
export const NETWORK_EXTENSIONS = ["dblink", "postgres_fdw", "pg_net", "http", "pgsql-http", "supabase_wrappers", "wrappers"];

/**
 * As the canary's superuser, in the canary database: each extension's schema (owned by the restore's
 * owner, as --no-owner would have made it), the extension, and the owner's right to load the data the
 * archive holds for tables and sequences an extension created (supabase_vault's secrets, say).
 */
export async function prepareAsSuperuser(c: Client, owner: string, extensions: ExtensionPlacement[], entries: TocEntry[], skip: Set<string>): Promise<Prepared> {
    const prepared: Prepared = { extensions: new Set(), schemas: new Set() };
    for (const x of extensions) {
        if (skip.has(x.name)) continue;
        if (!BUILT_IN_SCHEMAS.has(x.schema) && !prepared.schemas.has(x.schema)) {
            await c.query(`create schema if not exists ${quoteIdent(x.schema)} authorization ${quoteIdent(owner)}`);
            prepared.schemas.add(x.schema);
        }
        await c.query(`create extension if not exists ${quoteIdent(x.name)} with schema ${quoteIdent(x.schema)} cascade`);
        prepared.extensions.add(x.name);
    }
    await revokeNetworkExtensions(c);
    const tables = new Set(entries.filter((e) => e.desc === "TABLE").map((e) => `${e.schema}.${e.name}`));
    const sequences = new Set(entries.filter((e) => e.desc === "SEQUENCE").map((e) => `${e.schema}.${e.name}`));
    for (const e of entries) {
        const key = `${e.schema}.${e.name}`;
        if (e.desc === "TABLE DATA" && !tables.has(key) && (await exists(c, e))) await c.query(`grant select, insert on ${quoteTable(e.schema, e.name)} to ${quoteIdent(owner)}`);
        if (e.desc === "SEQUENCE SET" && !sequences.has(key) && (await exists(c, e))) await c.query(`grant usage, select, update on sequence ${quoteTable(e.schema, e.name)} to ${quoteIdent(owner)}`);
    }
    return prepared;
}

/** Every function and table of a network extension present in this database: revoked from PUBLIC. */
export async function revokeNetworkExtensions(c: Client): Promise<string[]> {
    const r = await c.query(
        `select e.extname, d.classid::regclass::text as kind,
                case when d.classid = 'pg_proc'::regclass then d.objid::regprocedure::text else d.objid::regclass::text end as obj
         from pg_depend d join pg_extension e on e.oid = d.refobjid
         where d.refclassid = 'pg_extension'::regclass and d.deptype = 'e' and e.extname = any($1)
           and (d.classid = 'pg_proc'::regclass or (d.classid = 'pg_class'::regclass and (select relkind from pg_class where oid = d.objid) in ('r', 'p', 'v')))`,
        [NETWORK_EXTENSIONS],
    );
    for (const row of r.rows) {
        // regprocedure/regclass text is already quoted as needed
        if (row.kind === "pg_proc") await c.query(`revoke execute on function ${row.obj} from public`);
        else await c.query(`revoke all on table ${row.obj} from public`);
    }
    return [...new Set(r.rows.map((x) => x.extname as string))];
}

async function exists(c: Client, e: TocEntry): Promise<boolean> {
    const r = await c.query("select to_regclass($1) is not null as e", [quoteTable(e.schema, e.name)]);
    return r.rows[0].e === true;
}
