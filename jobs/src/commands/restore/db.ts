// `restore db`: a dump from the vault into a target Postgres. The dump is streamed once from the vault
// (sha256 over the stored bytes, age decryption with AGE_IDENTITY when encrypted, zstd/gzip when the
// job compressed) into a spool file, checked against the manifest before anything touches the target,
// then restored with pg_restore -j. Afterwards the restored tables' exact row counts are compared with
// the counts the dump recorded in its own snapshot; --mask applies the config's masking rules and
// proves no unmasked value remains.
//
// Safety: a target that already holds user tables is refused unless --clean --yes; a table restore
// refuses a destination table that exists (same flags); prod data into a non-prod target needs --mask.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { GetObjectCommand } from "@aws-sdk/client-s3";
import { pipeline } from "node:stream/promises";
import type { Client } from "pg";
import { EXIT, redactUrl, type DbManifest, type ExitCode } from "@supabase-backups/contracts";
import { audited, isProdEnv, Refusal } from "../../vault/audit";
import { connect, ensureRoles, rolesFromScript, SUPABASE_DEFAULT_ROLES } from "../../postgres/canary";
import { pgChildEnv } from "../../postgres/connection";
import { JobFailure, UsageError, errorMessage } from "../../runtime/errors";
import { redact, registerSecret } from "../../runtime/log";
import { applyMasking, type MaskResult, type MaskTarget } from "./masking";
import { operatorContext, startAudit, type OperatorContext, type OperatorOptions } from "../../cli/operator";
import { formatBytes, Progress } from "../../runtime/progress";
import { chooseRun } from "../../vault/run-choice";
import { out, outJson, renderPairs, renderTable } from "../../cli/output";
import { decodeSpecFor, describeDecodeError, fetchVaultObject, hashAndDecode } from "../../codec/verified-read";
import { quoteIdent, quoteTable } from "../../postgres/ident";

export interface RestoreDbOptions extends OperatorOptions {
    run?: string;
    at?: string;
    targetUrl: string;
    tables?: string;
    intoSchema?: string;
    mask?: boolean;
    targetEnv?: string;
    clean?: boolean;
    yes?: boolean;
    jobs: number;
}

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

/** Is the target the database the dump came from (same host and database name)? */
export function isSourceDatabase(targetUrl: string, source: DbManifest["source"]): boolean {
    try {
        const u = new URL(targetUrl);
        return u.hostname === source.host && decodeURIComponent(u.pathname.replace(/^\//, "") || "postgres") === source.database;
    } catch {
        return false;
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

async function tableExists(c: Client, schema: string, table: string): Promise<boolean> {
    const r = await c.query(`select to_regclass($1) is not null as e`, [quoteTable(schema, table)]);
    return !!r.rows[0].e;
}

interface ProcResult {
    code: number | null;
    errors: string[];
    errorCount: number;
    stdout?: string;
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv, opts: { captureStdout?: boolean } = {}): Promise<ProcResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(bin, args, { env, stdio: ["ignore", opts.captureStdout ? "pipe" : "ignore", "pipe"] });
        const errors: string[] = [];
        let errorCount = 0;
        let stdout = "";
        let tail = "";
        child.stdout?.on("data", (d) => (stdout += d));
        child.stderr!.on("data", (d: Buffer) => {
            tail += d.toString("utf8");
            const lines = tail.split("\n");
            tail = lines.pop() ?? "";
            for (const l of lines) {
                if (/error:|ERROR:|FATAL:/.test(l)) {
                    errorCount++;
                    if (errors.length < 10) errors.push(redact(l.trim()));
                }
            }
        });
        child.on("error", (e) => reject(new JobFailure(`cannot run ${bin}: ${e.message}`)));
        child.on("close", (code) => {
            if (tail && /error:|ERROR:|FATAL:/.test(tail)) {
                errorCount++;
                if (errors.length < 10) errors.push(redact(tail.trim()));
            }
            resolve({ code, errors, errorCount, stdout });
        });
    });
}

/** The child environment: libpq variables for the target (no password on any command line). */
function targetEnv(url: string): NodeJS.ProcessEnv {
    const env = pgChildEnv(url, process.env, "supabase-backups-restore");
    delete env.PGSERVICE;
    delete env.DATABASE_URL;
    return env;
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

interface CountCheck {
    table: string;
    restoredAs: string;
    expected: number | null;
    restored: number;
    ok: boolean;
}

export async function restoreDb(opts: RestoreDbOptions): Promise<ExitCode> {
    registerSecret(opts.targetUrl);
    try {
        const p = new URL(opts.targetUrl).password;
        if (p) registerSecret(decodeURIComponent(p));
    } catch {
        throw new UsageError(`--target-url is not a URL: ${redactUrl(opts.targetUrl)}`);
    }
    const tables = parseTables(opts.tables);
    if (opts.intoSchema !== undefined) {
        if (!tables) throw new UsageError("--into-schema needs --tables");
        if (!SCHEMA.test(opts.intoSchema)) throw new UsageError(`--into-schema "${opts.intoSchema}": lowercase letters, digits, _ only`);
    }
    if (opts.clean && !opts.yes) throw new UsageError("--clean drops objects in the target: add --yes to confirm");
    const jobs = opts.jobs;

    const ctx = operatorContext(opts, "restore db");
    const trail = startAudit(ctx, opts, "restore-db", opts.targetUrl, {
        run: opts.run,
        at: opts.at,
        tables: tables?.map((t) => `${t.schema}.${t.table}`),
        intoSchema: opts.intoSchema,
        mask: !!opts.mask,
        targetEnv: opts.targetEnv,
        clean: !!opts.clean,
        jobs,
    });
    return audited(trail, (t) => doRestore(ctx, opts, tables, jobs, t), ctx.log);
}

async function doRestore(ctx: OperatorContext, opts: RestoreDbOptions, tables: TableRef[] | undefined, jobs: number, trail: import("../../vault/audit").AuditTrail): Promise<ExitCode> {
    const { config, log } = ctx;
    const chosen = await trail.time("choose", () => chooseRun<DbManifest>(ctx.s3, ctx.bucket, config.env, "db", { run: opts.run, at: opts.at }));
    const m = chosen.loaded.manifest;
    trail.setRun(m.runId);
    log.info({ runId: m.runId }, chosen.note);
    if (!opts.json) out(`run: ${chosen.note}\n`);

    // Masking policy before anything is downloaded.
    const rules = config.masking?.rules ?? [];
    const targetIsProd = opts.targetEnv !== undefined ? isProdEnv(opts.targetEnv) : isSourceDatabase(opts.targetUrl, m.source);
    if (isProdEnv(config.env) && !targetIsProd && !opts.mask) {
        throw new Refusal(
            `refusing to restore ${config.env} data into a non-production target without --mask (the target is not the source database; pass --mask, or --target-env ${config.env} if the target really is production)`,
        );
    }
    if (opts.mask && rules.length === 0) throw new Refusal("--mask given but the config has no masking.rules: nothing would be masked");

    const dumpObj = m.objects.find((o) => o.name === "dump");
    if (!dumpObj) throw new JobFailure(`manifest of ${m.runId} lists no dump object`);
    if (m.encryption && !ctx.secrets.ageIdentity) throw new UsageError(`run ${m.runId} is encrypted to ${m.encryption.recipient}: set AGE_IDENTITY to the matching age identity`);

    // The target: refuse surprises before downloading gigabytes.
    const schemaMap = new Map<string, string>();
    for (const t of tables ?? []) schemaMap.set(`${t.schema}.${t.table}`, opts.intoSchema ?? t.schema);
    let c: Client;
    try {
        c = await connect(opts.targetUrl);
    } catch (e) {
        throw new JobFailure(`cannot connect to the target ${redactUrl(opts.targetUrl)}: ${redact(errorMessage(e))}`);
    }
    try {
        if (!tables) {
            const existing = await userTables(c);
            if (existing.length && !opts.clean) {
                throw new Refusal(
                    `the target already holds ${existing.length} user table(s) (${existing.slice(0, 5).join(", ")}${existing.length > 5 ? ", …" : ""}): refusing to restore over them; use an empty database, or --clean --yes to drop and recreate what the dump contains`,
                );
            }
        } else {
            for (const t of tables) {
                const dest = schemaMap.get(`${t.schema}.${t.table}`)!;
                if (await tableExists(c, dest, t.table)) {
                    if (!opts.clean) throw new Refusal(`${dest}.${t.table} already exists in the target: refusing to overwrite it; pick another --into-schema, or --clean --yes to replace it`);
                }
            }
        }
    } catch (e) {
        await c.end().catch(() => undefined);
        throw e;
    }

    const dir = await mkdtemp(join(tmpdir(), "sb-restore-"));
    const spool = join(dir, "dump");
    try {
        // Download, verify, decode.
        const spec = decodeSpecFor(m, "dump", ctx.secrets.ageIdentity);
        const got = await trail.time("download", async () => {
            // Progress on a terminal (a line every few seconds in a pod) while the dump streams in.
            const progress = new Progress(`download ${m.runId}`, log).start();
            try {
                const r = await ctx.s3.send(new GetObjectCommand({ Bucket: ctx.bucket, Key: dumpObj.key }));
                const src = r.Body as Readable;
                const counter = new Transform({
                    transform(chunk: Buffer, _e, cb) {
                        progress.add(chunk.length);
                        cb(null, chunk);
                    },
                });
                src.on("error", (e) => counter.destroy(e));
                const body = src.pipe(counter);
                return await hashAndDecode(body, spec, spool);
            } finally {
                progress.stop();
            }
        });
        if (got.sha256 !== dumpObj.sha256 || got.bytes !== dumpObj.bytes) {
            throw new JobFailure(`the dump of ${m.runId} does not match its manifest (sha256 ${got.sha256.slice(0, 12)}…, ${got.bytes} bytes; manifest ${dumpObj.sha256.slice(0, 12)}…, ${dumpObj.bytes} bytes): not restoring it`);
        }
        if (got.decodeError) throw new JobFailure(`the dump of ${m.runId} cannot be decoded: ${describeDecodeError(got.decodeError)}`);
        log.info({ bytes: got.bytes, decoded: got.decodedBytes }, "dump downloaded and verified");

        // Roles the dump's grants and policies name (best effort: needs CREATEROLE on the target).
        let roles = SUPABASE_DEFAULT_ROLES;
        const rolesObj = m.objects.find((o) => o.name === "roles.sql");
        if (rolesObj) {
            const r = await fetchVaultObject(ctx.s3, ctx.bucket, rolesObj.key, decodeSpecFor(m, "roles.sql", ctx.secrets.ageIdentity), "memory").catch(() => undefined);
            if (r?.data && r.sha256 === rolesObj.sha256) roles = [...new Set([...roles, ...rolesFromScript(r.data.toString("utf8"))])];
        }
        const createdRoles = await ensureRoles(opts.targetUrl, roles).catch((e) => {
            log.warn({ err: redact(errorMessage(e)) }, "could not create missing roles in the target; grants to them will fail");
            return [] as string[];
        });
        if (createdRoles.length) log.info({ roles: createdRoles }, "created missing roles (NOLOGIN)");

        // Restore.
        const env = targetEnv(opts.targetUrl);
        let restoreErrors: ProcResult;
        const restoredTables: Array<{ from: string; to: string }> = [];
        if (!tables) {
            const args = ["--no-password", "--no-owner", "--jobs", String(jobs), ...(opts.clean ? ["--clean", "--if-exists"] : []), "--dbname", env.PGDATABASE ?? "postgres", spool];
            restoreErrors = await trail.time("restore", () => run("pg_restore", args, env));
            if (restoreErrors.code !== 0 && restoreErrors.errorCount === 0) throw new JobFailure(`pg_restore exited ${restoreErrors.code}`);
        } else {
            const toc = await run("pg_restore", ["--list", spool], env, { captureStdout: true });
            if (toc.code !== 0) throw new JobFailure(`pg_restore --list failed: ${toc.errors.join("; ")}`);
            const sel = selectToc(toc.stdout ?? "", tables);
            const missing = tables.filter((t) => !sel.found.has(`${t.schema}.${t.table}`));
            if (missing.length) throw new JobFailure(`not in the dump of ${m.runId}: ${missing.map((t) => `${t.schema}.${t.table}`).join(", ")}`);
            const listFile = join(dir, "toc.list");
            await writeFile(listFile, sel.lines.join("\n") + "\n");
            // Prepare destinations: schema, and (with --clean --yes) drop an existing copy.
            for (const t of tables) {
                const dest = schemaMap.get(`${t.schema}.${t.table}`)!;
                await c.query(`create schema if not exists ${quoteIdent(dest)}`);
                if (opts.clean) await c.query(`drop table if exists ${quoteTable(dest, t.table)}`);
            }
            restoreErrors = await trail.time("restore", async () => {
                const script = spawn("pg_restore", ["--no-owner", "--no-privileges", "--no-comments", "--use-list", listFile, "--file", "-", spool], { env, stdio: ["ignore", "pipe", "pipe"] });
                let scriptErr = "";
                script.stderr!.on("data", (d) => (scriptErr += d));
                const psql = spawn("psql", ["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", "-"], { env, stdio: ["pipe", "ignore", "pipe"] });
                let psqlErr = "";
                psql.stderr!.on("data", (d) => (psqlErr += d));
                const psqlDone = new Promise<number | null>((r) => psql.on("close", r));
                const scriptDone = new Promise<number | null>((r) => script.on("close", r));
                const rewrite = new SchemaRewrite(schemaMap);
                await pipeline(script.stdout!, rewrite, psql.stdin!).catch(() => undefined);
                const [sc, pc] = await Promise.all([scriptDone, psqlDone]);
                if (sc !== 0) throw new JobFailure(`pg_restore (script for ${tables.length} table(s)) failed: ${redact(scriptErr.trim().split("\n").pop() ?? "")}`);
                if (pc !== 0) throw new JobFailure(`loading the table(s) into the target failed, nothing kept: ${redact(psqlErr.trim().split("\n").slice(-2).join(" "))}`);
                const errs = psqlErr.split("\n").filter((l) => /ERROR|error:/.test(l));
                return { code: 0, errors: errs.slice(0, 10), errorCount: errs.length };
            });
        }
        for (const [from, to] of tables ? [...schemaMap].map(([k, schema]) => [k, `${schema}.${k.split(".")[1]}`] as [string, string]) : Object.keys(m.snapshot.rowCounts).map((k) => [k, k] as [string, string])) {
            restoredTables.push({ from, to });
        }
        if (restoreErrors.errorCount) log.warn({ errors: restoreErrors.errors, count: restoreErrors.errorCount }, "pg_restore reported errors");
        if (!restoredTables.length) log.warn({ runId: m.runId }, "the manifest records no row counts (verify.tables was empty when it ran): counts not checked");

        // Row counts against the dump's own snapshot.
        const checks: CountCheck[] = await trail.time("check", async () => {
            const res: CountCheck[] = [];
            for (const t of restoredTables) {
                const expected = m.snapshot.rowCounts[t.from];
                const [s, n] = t.to.split(".");
                let restored = -1;
                try {
                    restored = Number((await c.query(`select count(*)::bigint as n from ${quoteTable(s, n)}`)).rows[0].n);
                } catch (e) {
                    log.error({ table: t.to, err: errorMessage(e) }, "cannot count rows");
                }
                res.push({ table: t.from, restoredAs: t.to, expected: expected ?? null, restored, ok: expected === undefined ? restored >= 0 : restored === expected });
            }
            return res;
        });

        // Masking, then the proof.
        let masked: MaskResult[] | undefined;
        if (opts.mask) {
            const targets: MaskTarget[] = [];
            for (const rule of config.masking?.rules ?? []) {
                const [s, n] = rule.table.split(".");
                if (tables) {
                    const dest = schemaMap.get(rule.table);
                    if (dest !== undefined) targets.push({ rule, schema: dest, table: n });
                } else targets.push({ rule, schema: s, table: n });
            }
            masked = await trail.time("mask", () => applyMasking(c, targets));
        }

        const bad = checks.filter((x) => !x.ok);
        const leaks = (masked ?? []).filter((x) => x.unmasked !== 0);
        const result = {
            env: config.env,
            runId: m.runId,
            choice: chosen.note,
            verified: chosen.verification?.result === "passed",
            target: redactUrl(opts.targetUrl),
            mode: tables ? (opts.intoSchema ? `tables into schema ${opts.intoSchema}` : "tables") : "full",
            dumpBytes: got.bytes,
            rowCounts: checks,
            pgRestoreErrors: restoreErrors.errors,
            pgRestoreErrorCount: restoreErrors.errorCount,
            masking: masked ?? null,
            auditEventId: trail.eventId,
        };
        if (opts.json) outJson(result);
        else {
            out(
                renderPairs([
                    ["target", result.target],
                    ["mode", result.mode],
                    ["dump", `${formatBytes(got.bytes)} (sha256 ok${m.encryption ? ", decrypted" : ""})`],
                    ["pg_restore errors", restoreErrors.errorCount ? `${restoreErrors.errorCount} (first: ${restoreErrors.errors[0] ?? "?"})` : "none"],
                ]),
            );
            out("\n" + renderTable(["table", "restored as", "manifest rows", "restored rows", "ok"], checks.map((x) => [x.table, x.restoredAs, x.expected, x.restored, x.ok ? "yes" : "NO"])));
            if (masked) out("\n" + renderTable(["masked", "rule", "rows updated", "unmasked left"], masked.map((x) => [`${x.table}.${x.column}`, x.rule, x.updated, x.unmasked])));
        }
        if (leaks.length) throw new JobFailure(`masking proof failed: unmasked values remain in ${leaks.map((x) => `${x.table}.${x.column} (${x.unmasked})`).join(", ")}`);
        if (bad.length) throw new JobFailure(`row counts differ from the manifest: ${bad.map((x) => `${x.table} ${x.restored} ≠ ${x.expected}`).join(", ")}`);
        return EXIT.ok;
    } finally {
        await c.end().catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
    }
}
