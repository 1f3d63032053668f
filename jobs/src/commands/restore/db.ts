// `restore db`: a dump from the vault into a target Postgres. The dump is streamed once from the vault
// (sha256 over the stored bytes, age decryption with AGE_IDENTITY when encrypted, zstd/gzip when the
// job compressed) into a spool file, checked against the manifest before anything touches the target,
// then restored with pg_restore -j. Afterwards the restored tables' exact row counts are compared with
// the counts the dump recorded in its own snapshot; --mask applies the config's masking rules and
// proves no unmasked value remains.
//
// Safety: a target that already holds user tables is refused unless --clean --yes; a table restore
// refuses a destination table that exists (same flags); prod data into a non-prod target needs --mask.
//
// The steps, with the restore's state (DbRestore) passed along: choose the run → policy checks →
// target checks → download and verify → roles → pg_restore (whole dump, or db-tables.ts) → row counts →
// masking and its proof → report. Vault, target and tool I/O live in db-steps.ts.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "pg";
import { EXIT, redactUrl, type DbManifest, type ExitCode } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { checkAtFlag, startAudit, type OperatorOptions } from "../../cli/operator";
import { out, outJson, renderPairs, renderTable } from "../../cli/output";
import { audited, isProdEnv, Refusal, type AuditTrail } from "../../vault/audit";
import { chooseRun, type Chosen } from "../../vault/run-choice";
import { recordTrust } from "../../vault/record-signing";
import { JobFailure, UsageError } from "../../runtime/errors";
import { formatBytes } from "../../runtime/progress";
import { applyMasking, type MaskResult, type MaskTarget } from "./masking";
import { checkIntoSchema, loadTables, parseTables, prepareDestinations, refuseExistingTables, restoredTables, schemaMapFor, type TableRef } from "./db-tables";
import { isSupabaseProject, restoreIntoSupabase } from "./db-supabase";
import { isExpectedDataError, isManagedSchema } from "../../supabase/managed";
import { securedTargetUrl, targetUrlWithPassword } from "./db-target";
import { connectTarget, countRows, downloadDump, ensureDumpRoles, isSourceDatabase, refuseNonEmptyTarget, restoreFull, targetEnv, type CountCheck, type ProcResult } from "./db-steps";


export interface RestoreDbOptions extends OperatorOptions {
    run?: string;
    at?: string;
    targetUrl: string;
    /** a file holding the target's password (else SUPABASE_BACKUPS_TARGET_PASSWORD, PGPASSFILE) */
    targetPasswordFile?: string;
    tables?: string;
    intoSchema?: string;
    mask?: boolean;
    targetEnv?: string;
    clean?: boolean;
    yes?: boolean;
    jobs: number;
}

/**
 * The flags, checked before anything runs (usage errors, nothing written): --tables, --into-schema,
 * --clean --yes, --at, and the target URL (refused with a password; the password from the env or a
 * file, registered for scrubbing: db-target.ts). Returns the tables.
 */
export function checkRestoreDbFlags(opts: RestoreDbOptions): TableRef[] | undefined {
    const tables = parseTables(opts.tables);
    checkIntoSchema(opts.intoSchema, tables);
    if (opts.clean && !opts.yes) throw new UsageError("--clean drops objects in the target: add --yes to confirm");
    checkAtFlag(opts.at);
    // from here on targetUrl carries the password from the env or file (never from argv)
    opts.targetUrl = targetUrlWithPassword(opts.targetUrl, opts.targetPasswordFile);
    return tables;
}

export async function restoreDb(ctx: CommandContext, opts: RestoreDbOptions, tables: TableRef[] | undefined): Promise<ExitCode> {
    const trail = startAudit(ctx, opts, "restore-db", opts.targetUrl, {
        run: opts.run,
        at: opts.at,
        tables: tables?.map((t) => `${t.schema}.${t.table}`),
        intoSchema: opts.intoSchema,
        mask: !!opts.mask,
        targetEnv: opts.targetEnv,
        clean: !!opts.clean,
        jobs: opts.jobs,
    });
    return audited(trail, (t) => runRestore(ctx, { ...opts, targetUrl: securedTargetUrl(ctx, opts.targetUrl) }, tables, t), ctx.log);
}

/** A restore's state, passed from step to step. */
interface DbRestore {
    readonly ctx: CommandContext;
    readonly opts: RestoreDbOptions;
    readonly trail: AuditTrail;
    /** --tables, or undefined for the whole dump */
    readonly tables: TableRef[] | undefined;
    /** `schema.table` → destination schema, for --tables */
    readonly schemaMap: Map<string, string>;
    readonly chosen: Chosen<DbManifest>;
    readonly m: DbManifest;
    readonly dumpObj: DbManifest["objects"][number];
    /** the target, connected once its checks passed */
    readonly c: Client;
    /** a private temporary directory: the spool file and the TOC list */
    readonly dir: string;
    readonly spool: string;
    /** the target is a Supabase project: restored the way `supabase db dump` splits it (db-supabase.ts) */
    readonly supabase: boolean;
}

/** What the restore did, for the report. */
interface Restored {
    dumpBytes: number;
    restoreErrors: ProcResult;
    checks: CountCheck[];
    masked: MaskResult[] | undefined;
}

async function runRestore(ctx: CommandContext, opts: RestoreDbOptions, tables: TableRef[] | undefined, trail: AuditTrail): Promise<ExitCode> {
    const chosen = await chooseDbRun(ctx, opts, trail);
    const m = chosen.loaded.manifest;
    const dumpObj = checkPolicy(ctx, opts, m);
    // The target: refuse surprises before downloading gigabytes.
    const schemaMap = schemaMapFor(tables, opts.intoSchema);
    const { c, supabase } = await openTarget(opts, tables, schemaMap);
    const dir = await mkdtemp(join(tmpdir(), "sb-restore-"));
    const r: DbRestore = { ctx, opts, trail, tables, schemaMap, chosen, m, dumpObj, c, dir, spool: join(dir, "dump"), supabase };
    try {
        const got = await downloadDump(ctx, trail, m, dumpObj, chosen.versions.pin(dumpObj.key, dumpObj.versionId), r.spool);
        await ensureDumpRoles(ctx, m, opts.targetUrl, (o) => chosen.versions.pin(o.key, o.versionId));
        const restoreErrors = await pgRestore(r);
        const restored = restoredPairs(r);
        if (restoreErrors.errorCount) ctx.log.warn({ errors: restoreErrors.errors, count: restoreErrors.errorCount }, "pg_restore reported errors");
        if (!restored.length) ctx.log.warn({ runId: m.runId }, "the manifest records no row counts (verify.tables was empty when it ran): counts not checked");
        const checks = await trail.time("check", () => countRows(c, m, restored, ctx.log));
        const masked = opts.mask ? await trail.time("mask", () => applyMasking(c, maskTargets(r))) : undefined;
        return report(r, { dumpBytes: got.bytes, restoreErrors, checks, masked });
    } finally {
        await c.end().catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
    }
}

async function chooseDbRun(ctx: CommandContext, opts: RestoreDbOptions, trail: AuditTrail): Promise<Chosen<DbManifest>> {
    const trust = recordTrust(ctx.config.vault);
    const chosen = await trail.time("choose", () => chooseRun<DbManifest>(ctx.s3, ctx.bucket, ctx.config.env, "db", { run: opts.run, at: opts.at, trust }));
    trail.setRun(chosen.loaded.manifest.runId);
    ctx.log.info({ runId: chosen.loaded.manifest.runId, manifestVersionId: chosen.loaded.versionId ?? null }, chosen.note);
    if (!opts.json) out(`run: ${chosen.note}\n`);
    // Tampering does not stop the restore: it reads the recorded versions, and says so.
    for (const t of chosen.tampering) ctx.log.error({ runId: chosen.loaded.manifest.runId, tampering: t }, "tampering");
    return chosen;
}

/** Before anything is downloaded: the masking policy, the dump object, the age identity. */
function checkPolicy(ctx: CommandContext, opts: RestoreDbOptions, m: DbManifest): DbManifest["objects"][number] {
    const { config } = ctx;
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
    return dumpObj;
}

/** Connect to the target and refuse what would be overwritten (closes the connection when refusing). */
async function openTarget(opts: RestoreDbOptions, tables: TableRef[] | undefined, schemaMap: Map<string, string>): Promise<{ c: Client; supabase: boolean }> {
    const c = await connectTarget(opts.targetUrl);
    try {
        const supabase = !tables && (await isSupabaseProject(c));
        if (!tables) await refuseNonEmptyTarget(c, !!opts.clean, supabase ? isManagedSchema : undefined);
        else await refuseExistingTables(c, tables, schemaMap, !!opts.clean);
        return { c, supabase };
    } catch (e) {
        await c.end().catch(() => undefined);
        throw e;
    }
}

/** The whole dump with pg_restore -j, or the --tables through a script into their schemas. */
async function pgRestore(r: DbRestore): Promise<ProcResult> {
    const env = targetEnv(r.opts.targetUrl);
    if (!r.tables && r.supabase) {
        const done = await r.trail.time("restore", () => restoreIntoSupabase(env, r.spool, r.dir, r.opts.jobs, !!r.opts.clean));
        r.ctx.log.info({ leftOut: done.skipped.length }, "restored into a Supabase project: its managed schemas, event triggers and publication left out");
        return done;
    }
    if (!r.tables) return r.trail.time("restore", () => restoreFull(env, r.spool, r.opts.jobs, !!r.opts.clean));
    const t = { c: r.c, env, spool: r.spool, dir: r.dir, runId: r.m.runId, tables: r.tables, schemaMap: r.schemaMap, clean: !!r.opts.clean };
    const listFile = await prepareDestinations(t);
    return r.trail.time("restore", () => loadTables(t, listFile));
}

/** Each table whose rows are checked: its name in the dump → where it was restored. */
function restoredPairs(r: DbRestore): Array<{ from: string; to: string }> {
    return r.tables ? restoredTables(r.schemaMap) : Object.keys(r.m.snapshot.rowCounts).map((k) => ({ from: k, to: k }));
}

/** The config's masking rules, on the tables as restored (for --tables: only those, in their schema). */
function maskTargets(r: DbRestore): MaskTarget[] {
    const targets: MaskTarget[] = [];
    for (const rule of r.ctx.config.masking?.rules ?? []) {
        const [s, n] = rule.table.split(".");
        if (r.tables) {
            const dest = r.schemaMap.get(rule.table);
            if (dest !== undefined) targets.push({ rule, schema: dest, table: n });
        } else targets.push({ rule, schema: s, table: n });
    }
    return targets;
}

/** The result on stdout (JSON or tables); then a masking leak or a count mismatch fails the restore. */
function report(r: DbRestore, x: Restored): ExitCode {
    const { opts, m } = r;
    const { restoreErrors, checks, masked } = x;
    const result = {
        env: r.ctx.config.env,
        runId: m.runId,
        choice: r.chosen.note,
        verified: r.chosen.verification?.result === "passed",
        target: redactUrl(opts.targetUrl),
        mode: r.tables ? (opts.intoSchema ? `tables into schema ${opts.intoSchema}` : "tables") : r.supabase ? "full, into a Supabase project (roles, schema without the managed schemas, data)" : "full",
        dumpBytes: x.dumpBytes,
        rowCounts: checks,
        pgRestoreErrors: restoreErrors.errors,
        pgRestoreErrorCount: restoreErrors.errorCount,
        // every table whose data did not (fully) load, and whether it is on the expected list
        tablesWithErrors: tablesWithErrors(restoreErrors),
        masking: masked ?? null,
        tampering: r.chosen.tampering,
        auditEventId: r.trail.eventId,
    };
    if (opts.json) outJson(result);
    else {
        out(
            renderPairs([
                ["target", result.target],
                ["mode", result.mode],
                ["dump", `${formatBytes(x.dumpBytes)} (sha256 ok${m.encryption ? ", decrypted" : ""})`],
                ["pg_restore errors", restoreErrors.errorCount ? `${restoreErrors.errorCount} (first: ${restoreErrors.errors[0] ?? "?"})` : "none"],
                ["tables with errors", result.tablesWithErrors.map((t) => `${t.table}${t.expected ? " (expected: platform data)" : ""}`).join(", ") || "none"],
            ]),
        );
        out("\n" + renderTable(["table", "restored as", "manifest rows", "restored rows", "ok"], checks.map((c) => [c.table, c.restoredAs, c.expected, c.restored, c.ok ? "yes" : "NO"])));
        if (masked) out("\n" + renderTable(["masked", "rule", "rows updated", "unmasked left"], masked.map((c) => [`${c.table}.${c.column}`, c.rule, c.updated, c.unmasked])));
    }
    const leaks = (masked ?? []).filter((c) => c.unmasked !== 0);
    const bad = checks.filter((c) => !c.ok);
    failOnDataErrors(restoreErrors);
    if (leaks.length) throw new JobFailure(`masking proof failed: unmasked values remain in ${leaks.map((c) => `${c.table}.${c.column} (${c.unmasked})`).join(", ")}`);
    if (bad.length) throw new JobFailure(`row counts differ from the manifest: ${bad.map((c) => `${c.table} ${c.restored} ≠ ${c.expected}`).join(", ")}`);
    return tamperingExit(r.chosen);
}

/** After a restore of a tampered run: the one line, and EXIT.tampered (the data restored is the recorded version). */
function tamperingExit(chosen: Chosen<DbManifest>): ExitCode {
    const t = chosen.tampering;
    if (!t.length) return EXIT.ok;
    const runId = chosen.loaded.manifest.runId;
    process.stderr.write(
        `supabase-backups restore: TAMPERING in run ${runId}: ${t[0]}${t.length > 1 ? ` (and ${t.length - 1} more)` : ""}; restored the version the job wrote${chosen.verification?.result === "passed" ? " and verify proved" : ""}, not the current one\n`,
    );
    return EXIT.tampered;
}

/** Each table whose data did not (fully) load, once, with its first error. */
function tablesWithErrors(p: ProcResult): Array<{ table: string; error: string; expected: boolean }> {
    const seen = new Map<string, { table: string; error: string; expected: boolean }>();
    for (const e of p.dataErrors ?? []) if (!seen.has(e.table)) seen.set(e.table, { table: e.table, error: e.message, expected: isExpectedDataError(e.table) });
    return [...seen.values()];
}

/**
 * A data error fails the restore (the runbook's full-project-loss restore must not call a partly
 * restored auth or storage "done"), unless its table is on the expected list (supabase/managed.ts).
 */
function failOnDataErrors(p: ProcResult): void {
    const bad = tablesWithErrors(p).filter((t) => !t.expected);
    const loose = p.dataUnattributed ?? [];
    if (!bad.length && !loose.length) return;
    const what = [...bad.map((t) => `${t.table} (${t.error})`), ...(loose.length ? [`the data section: ${loose[0]}`] : [])];
    throw new JobFailure(`pg_restore could not load all the data, the restore is incomplete: ${what.join("; ")}`);
}
