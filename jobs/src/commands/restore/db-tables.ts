// `restore db --tables [--into-schema]`: only some tables (definition and data; no indexes or
// constraints), optionally into another schema side by side. The dump's TOC is filtered to the tables,
// pg_restore writes them as a script, SchemaRewrite moves them into the destination schema, and psql
// loads the script in one transaction: all of it or nothing.
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Client } from "pg";
import { JobFailure, UsageError } from "../../runtime/errors";
import { redact } from "../../runtime/log";
import { quoteIdent, quoteTable } from "../../postgres/ident";
import { Refusal } from "../../vault/audit";
import { runTool, type ProcResult } from "./db-steps";

const QUALIFIED = /^([a-z_][a-z0-9_$]*)\.([a-z_][a-z0-9_$]*)$/;
const SCHEMA = /^[a-z_][a-z0-9_$]{0,62}$/;

export interface TableRef {
    schema: string;
    table: string;
}

export function parseTables(list: string | undefined): TableRef[] | undefined {
    if (list === undefined) return undefined;
    const out: TableRef[] = [];
    for (const raw of list.split(",").map((s) => s.trim()).filter(Boolean)) {
        const m = QUALIFIED.exec(raw);
        if (!m) throw new UsageError(`--tables: "${raw}" is not schema.table (e.g. public.profiles)`);
        if (!out.some((t) => t.schema === m[1] && t.table === m[2])) out.push({ schema: m[1], table: m[2] });
    }
    if (!out.length) throw new UsageError("--tables: no table given");
    return out;
}

/** --into-schema: only with --tables, and a plain lowercase identifier. */
export function checkIntoSchema(intoSchema: string | undefined, tables: TableRef[] | undefined): void {
    if (intoSchema === undefined) return;
    if (!tables) throw new UsageError("--into-schema needs --tables");
    if (!SCHEMA.test(intoSchema)) throw new UsageError(`--into-schema "${intoSchema}": lowercase letters, digits, _ only`);
}

/** `schema.table` of each selected table → the schema it lands in (its own, or --into-schema). */
export function schemaMapFor(tables: TableRef[] | undefined, intoSchema: string | undefined): Map<string, string> {
    const schemaMap = new Map<string, string>();
    for (const t of tables ?? []) schemaMap.set(`${t.schema}.${t.table}`, intoSchema ?? t.schema);
    return schemaMap;
}

/**
 * Rewrites the table definitions and COPY headers of a pg_restore script so the tables land in another
 * schema. COPY data lines pass untouched (they are escaped: one row per line, ending at `\.`).
 */
export class SchemaRewrite extends Transform {
    private buf = "";
    private inCopy = false;
    readonly rewritten = new Set<string>();

    constructor(private readonly schemaMap: Map<string, string>) {
        super();
    }

    private line(l: string): string {
        if (this.inCopy) {
            if (l === "\\.") this.inCopy = false;
            return l;
        }
        const m = /^(CREATE TABLE|COPY) ("(?:[^"]|"")+"|[^\s."]+)\.("(?:[^"]|"")+"|[^\s("]+)(.*)$/.exec(l);
        if (m) {
            const unq = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replace(/""/g, '"') : s);
            const key = `${unq(m[2])}.${unq(m[3])}`;
            const to = this.schemaMap.get(key);
            if (m[1] === "COPY" && / FROM stdin;$/.test(l)) this.inCopy = true;
            if (to !== undefined) {
                this.rewritten.add(key);
                return `${m[1]} ${quoteIdent(to)}.${m[3]}${m[4]}`;
            }
        }
        return l;
    }

    _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
        this.buf += chunk.toString("utf8");
        const lines = this.buf.split("\n");
        this.buf = lines.pop() ?? "";
        cb(null, lines.map((l) => this.line(l) + "\n").join(""));
    }

    _flush(cb: TransformCallback): void {
        cb(null, this.buf ? this.line(this.buf) : "");
    }
}

/** TOC lines of the selected tables' definitions and data. */
export function selectToc(toc: string, tables: TableRef[]): { lines: string[]; found: Set<string> } {
    const lines: string[] = [];
    const found = new Set<string>();
    for (const l of toc.split("\n")) {
        const m = /^\d+; \d+ \d+ (TABLE DATA|TABLE) (\S+) (.+) (\S+)$/.exec(l);
        if (!m) continue;
        const t = tables.find((x) => x.schema === m[2] && x.table === m[3]);
        if (!t) continue;
        lines.push(l);
        if (m[1] === "TABLE") found.add(`${t.schema}.${t.table}`);
    }
    return { lines, found };
}

/** A destination table that already exists is refused unless --clean (--yes). */
export async function refuseExistingTables(c: Client, tables: TableRef[], schemaMap: Map<string, string>, clean: boolean): Promise<void> {
    for (const t of tables) {
        const dest = schemaMap.get(`${t.schema}.${t.table}`)!;
        const r = await c.query(`select to_regclass($1) is not null as e`, [quoteTable(dest, t.table)]);
        if (r.rows[0].e && !clean) throw new Refusal(`${dest}.${t.table} already exists in the target: refusing to overwrite it; pick another --into-schema, or --clean --yes to replace it`);
    }
}

/** Where the tables come from and go to. */
export interface TableRestore {
    c: Client;
    env: NodeJS.ProcessEnv;
    spool: string;
    dir: string;
    runId: string;
    tables: TableRef[];
    schemaMap: Map<string, string>;
    clean: boolean;
}

/** The TOC list file of the selected tables; every one must be in the dump. */
async function writeTocList(t: TableRestore): Promise<string> {
    const toc = await runTool("pg_restore", ["--list", t.spool], t.env, { captureStdout: true });
    if (toc.code !== 0) throw new JobFailure(`pg_restore --list failed: ${toc.errors.join("; ")}`);
    const sel = selectToc(toc.stdout ?? "", t.tables);
    const missing = t.tables.filter((x) => !sel.found.has(`${x.schema}.${x.table}`));
    if (missing.length) throw new JobFailure(`not in the dump of ${t.runId}: ${missing.map((x) => `${x.schema}.${x.table}`).join(", ")}`);
    const listFile = join(t.dir, "toc.list");
    await writeFile(listFile, sel.lines.join("\n") + "\n");
    return listFile;
}

/** Destinations: the schema, and (with --clean --yes) no existing copy. */
export async function prepareDestinations(t: TableRestore): Promise<string> {
    const listFile = await writeTocList(t);
    for (const x of t.tables) {
        const dest = t.schemaMap.get(`${x.schema}.${x.table}`)!;
        await t.c.query(`create schema if not exists ${quoteIdent(dest)}`);
        if (t.clean) await t.c.query(`drop table if exists ${quoteTable(dest, x.table)}`);
    }
    return listFile;
}

/** pg_restore's script of the listed tables → SchemaRewrite → psql, in one transaction. */
export async function loadTables(t: TableRestore, listFile: string): Promise<ProcResult> {
    const script = spawn("pg_restore", ["--no-owner", "--no-privileges", "--no-comments", "--use-list", listFile, "--file", "-", t.spool], { env: t.env, stdio: ["ignore", "pipe", "pipe"] });
    let scriptErr = "";
    script.stderr!.on("data", (d) => (scriptErr += d));
    const psql = spawn("psql", ["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"], { env: t.env, stdio: ["pipe", "ignore", "pipe"] });
    let psqlErr = "";
    psql.stderr!.on("data", (d) => (psqlErr += d));
    const psqlDone = new Promise<number | null>((r) => psql.on("close", r));
    const scriptDone = new Promise<number | null>((r) => script.on("close", r));
    const rewrite = new SchemaRewrite(t.schemaMap);
    await pipeline(script.stdout!, rewrite, psql.stdin!).catch(() => undefined);
    const [sc, pc] = await Promise.all([scriptDone, psqlDone]);
    if (sc !== 0) throw new JobFailure(`pg_restore (script for ${t.tables.length} table(s)) failed: ${redact(scriptErr.trim().split("\n").pop() ?? "")}`);
    if (pc !== 0) throw new JobFailure(`loading the table(s) into the target failed, nothing kept: ${redact(psqlErr.trim().split("\n").slice(-2).join(" "))}`);
    const errs = psqlErr.split("\n").filter((l) => /ERROR|error:/.test(l));
    return { code: 0, errors: errs.slice(0, 10), errorCount: errs.length };
}

/** Each restored table: its name in the dump → where it is now. */
export function restoredTables(schemaMap: Map<string, string>): Array<{ from: string; to: string }> {
    return [...schemaMap].map(([k, schema]) => ({ from: k, to: `${schema}.${k.split(".")[1]}` }));
}
