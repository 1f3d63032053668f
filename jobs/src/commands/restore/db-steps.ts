// The steps of `restore db` that talk to the run's store (vault or archive: db-source.ts), the target or a client tool: connect and refuse
// surprises, download and verify the dump, create the roles it names, pg_restore it, count the rows.
import { spawn } from "node:child_process";
import { Transform, type Readable } from "node:stream";
import type { Client } from "pg";
import { redactUrl, type DbManifest, type ExitCode } from "@supabase-backups/contracts";
import type { JobContext } from "../../runtime/context";
import { Refusal, type AuditTrail } from "../../vault/audit";
import { connect, ensureRoles, rolesFromScript, SUPABASE_DEFAULT_ROLES } from "../../postgres/canary";
import { pgChildEnv } from "../../postgres/connection";
import { quoteTable } from "../../postgres/ident";
import { JobFailure, errorMessage } from "../../runtime/errors";
import { redact } from "../../runtime/log";
import { Progress } from "../../runtime/progress";
import { decodeSpecFor, describeDecodeError, fetchVaultObject, hashAndDecode } from "../../codec/verified-read";
import { RestoreErrorScanner, restoreSucceeded, type DataError } from "../../postgres/restore-errors";

export interface ProcResult {
    /** 0 also when every error was a tolerated one */
    code: number | null;
    errors: string[];
    errorCount: number;
    /** errors set apart as known-harmless (restore-errors.ts) */
    tolerated?: string[];
    /** tables whose data did not (fully) load: every one */
    dataErrors?: DataError[];
    /** errors of a data-only pass that name no table (into a Supabase project) */
    dataUnattributed?: string[];
    stdout?: string;
}

/**
 * Run pg_restore; its stderr is read like the canary's (postgres/restore-errors.ts): every error counts
 * (the first 10 kept, scrubbed) except pg_restore 17's `SET transaction_timeout` on a server < 17.
 */
export function runTool(bin: string, args: string[], env: NodeJS.ProcessEnv, opts: { captureStdout?: boolean } = {}): Promise<ProcResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(bin, args, { env: { ...env, LC_MESSAGES: "C", LC_ALL: "C" }, stdio: ["ignore", opts.captureStdout ? "pipe" : "ignore", "pipe"] });
        const scanner = new RestoreErrorScanner();
        let stdout = "";
        child.stdout?.on("data", (d) => (stdout += d));
        child.stderr!.on("data", (d: Buffer) => scanner.feed(d.toString("utf8")));
        child.on("error", (e) => reject(new JobFailure(`cannot run ${bin}: ${e.message}`)));
        child.on("close", (code) => {
            const r = scanner.finish();
            const ok = restoreSucceeded(code, r);
            const dataErrors = r.dataErrors.map((d) => ({ table: d.table, message: redact(d.message) }));
            resolve({ code: ok ? 0 : code, errors: r.errors.map((l) => redact(l)), errorCount: r.errorCount, tolerated: r.tolerated, dataErrors, stdout });
        });
    });
}

/** The child environment: libpq variables for the target (no password on any command line). */
export function targetEnv(url: string): NodeJS.ProcessEnv {
    const env = pgChildEnv(url, process.env, "supabase-backups-restore");
    delete env.PGSERVICE;
    delete env.DATABASE_URL;
    return env;
}

/** Is the target the database the dump came from (same host and database name)? */
export function isSourceDatabase(targetUrl: string, source: DbManifest["source"]): boolean {
    try {
        const u = new URL(targetUrl);
        return u.hostname === source.host && decodeURIComponent(u.pathname.replace(/^\//, "") || "postgres") === source.database;
    } catch {
        return false;
    }
}

export async function connectTarget(url: string): Promise<Client> {
    try {
        return await connect(url);
    } catch (e) {
        throw new JobFailure(`cannot connect to the target ${redactUrl(url)}: ${redact(errorMessage(e))}`);
    }
}

async function userTables(c: Client): Promise<string[]> {
    const r = await c.query(
        `select n.nspname || '.' || c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where c.relkind in ('r', 'p') and n.nspname not in ('pg_catalog', 'information_schema')
           and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
         order by 1`,
    );
    return r.rows.map((x) => x.t as string);
}

/**
 * A full restore needs an empty target unless --clean (--yes). In a Supabase project "empty" means no
 * table outside the schemas the platform manages (`ignore`).
 */
export async function refuseNonEmptyTarget(c: Client, clean: boolean, ignore: (schema: string) => boolean = () => false): Promise<void> {
    const existing = (await userTables(c)).filter((t) => !ignore(t.slice(0, t.indexOf("."))));
    if (existing.length && !clean) {
        throw new Refusal(
            `the target already holds ${existing.length} user table(s) (${existing.slice(0, 5).join(", ")}${existing.length > 5 ? ", …" : ""}): refusing to restore over them; use an empty database, or --clean --yes to drop and recreate what the dump contains`,
        );
    }
}

type ManifestObject = DbManifest["objects"][number];

/**
 * The dump, streamed once into `spool` from `open` (the version the manifest records, else the one the job
 * wrote): sha256 and size of the stored bytes checked, then decoded. Bytes that differ from the manifest
 * fail with `mismatchExit` (db-source.ts says why it differs by store).
 */
export async function downloadDump(
    ctx: JobContext,
    trail: AuditTrail,
    m: DbManifest,
    dumpObj: ManifestObject,
    open: () => Promise<Readable>,
    spool: string,
    mismatchExit?: ExitCode,
): Promise<{ bytes: number; decodedBytes?: number }> {
    const spec = decodeSpecFor(m, "dump", ctx.secrets.ageIdentity);
    const got = await trail.time("download", async () => {
        // Progress on a terminal (a line every few seconds in a pod) while the dump streams in.
        const progress = new Progress(`download ${m.runId}`, ctx.log).start();
        try {
            const src = await open();
            const counter = new Transform({
                transform(chunk: Buffer, _e, cb) {
                    progress.add(chunk.length);
                    cb(null, chunk);
                },
            });
            src.on("error", (e) => counter.destroy(e));
            return await hashAndDecode(src.pipe(counter), spec, spool);
        } finally {
            progress.stop();
        }
    });
    if (got.sha256 !== dumpObj.sha256 || got.bytes !== dumpObj.bytes) {
        throw new JobFailure(
            `the dump of ${m.runId} does not match its manifest (sha256 ${got.sha256.slice(0, 12)}…, ${got.bytes} bytes; manifest ${dumpObj.sha256.slice(0, 12)}…, ${dumpObj.bytes} bytes): not restoring it`,
            mismatchExit,
        );
    }
    if (got.decodeError) throw new JobFailure(`the dump of ${m.runId} cannot be decoded: ${describeDecodeError(got.decodeError)}`);
    ctx.log.info({ bytes: got.bytes, decoded: got.decodedBytes }, "dump downloaded and verified");
    return got;
}

/** Roles the dump's grants and policies name (best effort: needs CREATEROLE on the target). */
export async function ensureDumpRoles(ctx: JobContext, m: DbManifest, targetUrl: string, open: (o: ManifestObject) => Promise<Readable>): Promise<void> {
    let roles = SUPABASE_DEFAULT_ROLES;
    const rolesObj = m.objects.find((o) => o.name === "roles.sql");
    if (rolesObj) {
        const r = await fetchVaultObject(async () => ({ body: await open(rolesObj) }), decodeSpecFor(m, "roles.sql", ctx.secrets.ageIdentity), "memory").catch(() => undefined);
        if (r?.data && r.sha256 === rolesObj.sha256) roles = [...new Set([...roles, ...rolesFromScript(r.data.toString("utf8"))])];
    }
    const createdRoles = await ensureRoles(targetUrl, roles).catch((e) => {
        ctx.log.warn({ err: redact(errorMessage(e)) }, "could not create missing roles in the target; grants to them will fail");
        return [] as string[];
    });
    if (createdRoles.length) ctx.log.info({ roles: createdRoles }, "created missing roles (NOLOGIN)");
}

/** The whole dump: pg_restore -j into the target (with --clean: dropping what exists first). */
export async function restoreFull(env: NodeJS.ProcessEnv, spool: string, jobs: number, clean: boolean): Promise<ProcResult> {
    const args = ["--no-password", "--no-owner", "--jobs", String(jobs), ...(clean ? ["--clean", "--if-exists"] : []), "--dbname", env.PGDATABASE ?? "postgres", spool];
    const r = await runTool("pg_restore", args, env);
    if (r.code !== 0 && r.errorCount === 0) throw new JobFailure(`pg_restore exited ${r.code}`);
    return r;
}

export interface CountCheck {
    table: string;
    restoredAs: string;
    expected: number | null;
    restored: number;
    ok: boolean;
}

/** Row counts of the restored tables against the dump's own snapshot (-1: could not count). */
export async function countRows(c: Client, m: DbManifest, restored: Array<{ from: string; to: string }>, log: JobContext["log"]): Promise<CountCheck[]> {
    const res: CountCheck[] = [];
    for (const t of restored) {
        const expected = m.snapshot.rowCounts[t.from];
        const [s, n] = t.to.split(".");
        let count = -1;
        try {
            count = Number((await c.query(`select count(*)::bigint as n from ${quoteTable(s, n)}`)).rows[0].n);
        } catch (e) {
            log.error({ table: t.to, err: errorMessage(e) }, "cannot count rows");
        }
        res.push({ table: t.from, restoredAs: t.to, expected: expected ?? null, restored: count, ok: expected === undefined ? count >= 0 : count === expected });
    }
    return res;
}
