// `restore db`: a dump from the vault (or, --from archive, the Azure archive alone: db-archive.ts) into a
// target Postgres. The dump is streamed once from where the run was found
// (sha256 over the stored bytes, age decryption with AGE_IDENTITY when encrypted, zstd/gzip when the
// job compressed) into a spool file, checked against the manifest before anything touches the target,
// then restored with pg_restore -j. Afterwards the restored tables' exact row counts are compared with
// the counts the dump recorded in its own snapshot. --mask restores into a stage nobody uses (a new
// database, or for --tables a new schema: mask-stage.ts), applies the masking rules (the config's and
// masking.ts's defaults) there, proves no unmasked value remains, and only then gives the stage the
// target's name; on any failure the stage is dropped.
//
// Safety: a target that already holds user tables is refused unless --clean --yes; a table restore
// refuses a destination table that exists (same flags); prod data into a non-prod target needs --mask.
//
// The steps, with the restore's state (DbRestore) passed along: choose the run → policy checks →
// target checks → download and verify → roles → pg_restore (whole dump, or db-tables.ts) → row counts →
// masking and its proof → report. The store's part (choose, thaw, open) is a ChosenDbRun (db-source.ts);
// target and tool I/O live in db-steps.ts.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "pg";
import { EXIT, redactUrl, type DbManifest, type ExitCode } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import type { JobContext } from "../../runtime/context";
import { checkAtFlag, startAudit, type OperatorOptions } from "../../cli/operator";
import { out, outJson, renderPairs, renderTable } from "../../cli/output";
import { audited, isProdEnv, Refusal, type AuditTrail } from "../../vault/audit";
import { JobFailure, UsageError } from "../../runtime/errors";
import { formatBytes } from "../../runtime/progress";
import { applyMasking, DEFAULT_RULES, existingColumns, type MaskResult, type MaskSpec, type MaskTarget } from "./masking";
import { createStageDatabase, createStageSchema, dropStageDatabase, dropStageSchema, promoteStageDatabase, promoteStageTables, type StageDatabase } from "./mask-stage";
import { connect } from "../../postgres/canary";
import { checkIntoSchema, loadTables, parseTables, prepareDestinations, refuseExistingTables, restoredTables, schemaMapFor, type TableRef } from "./db-tables";
import { isSupabaseProject, restoreIntoSupabase } from "./db-supabase";
import { isExpectedDataError, isManagedSchema } from "../../supabase/managed";
import { securedTargetUrl, targetUrlWithPassword } from "./db-target";
import { chooseVaultRun, type ChosenDbRun } from "./db-source";
import type { ThawFlags } from "../../cli/thaw";
import { connectTarget, countRows, downloadDump, ensureDumpRoles, isSourceDatabase, refuseNonEmptyTarget, restoreFull, targetEnv, type CountCheck, type ProcResult } from "./db-steps";


export interface RestoreDbOptions extends OperatorOptions, ThawFlags {
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
    /** "archive": the run from the Azure archive alone, no AWS credential used (db-archive.ts) */
    from?: "vault" | "archive";
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
    const trail = startAudit(ctx, opts, "restore-db", opts.targetUrl, restoreDbAuditOptions(opts, tables));
    return restoreDbWith(ctx, opts, tables, trail, () => chooseVaultRun(ctx, opts));
}

/** What the audit record says was asked (the same from the vault and the archive). */
export function restoreDbAuditOptions(opts: RestoreDbOptions, tables: TableRef[] | undefined): Record<string, unknown> {
    return {
        run: opts.run,
        at: opts.at,
        tables: tables?.map((t) => `${t.schema}.${t.table}`),
        intoSchema: opts.intoSchema,
        mask: !!opts.mask,
        targetEnv: opts.targetEnv,
        clean: !!opts.clean,
        jobs: opts.jobs,
        ...(opts.from ? { from: opts.from } : {}),
    };
}

/** The restore under its audit trail, the run chosen by `choose` (vault or archive). */
export function restoreDbWith(ctx: JobContext, opts: RestoreDbOptions, tables: TableRef[] | undefined, trail: AuditTrail, choose: () => Promise<ChosenDbRun>): Promise<ExitCode> {
    return audited(trail, (t) => runRestore(ctx, { ...opts, targetUrl: securedTargetUrl(ctx, opts.targetUrl) }, tables, t, choose), ctx.log);
}

/** A restore's state, passed from step to step. */
interface DbRestore {
    readonly ctx: JobContext;
    readonly opts: RestoreDbOptions;
    readonly trail: AuditTrail;
    /** --tables, or undefined for the whole dump */
    readonly tables: TableRef[] | undefined;
    /** `schema.table` → destination schema, for --tables */
    readonly schemaMap: Map<string, string>;
    readonly chosen: ChosenDbRun;
    readonly m: DbManifest;
    readonly dumpObj: DbManifest["objects"][number];
    /** the target, connected once its checks passed */
    readonly c: Client;
    /** a private temporary directory: the spool file and the TOC list */
    readonly dir: string;
    readonly spool: string;
    /** the target is a Supabase project: restored the way `supabase db dump` splits it (db-supabase.ts) */
    readonly supabase: boolean;
    /** where pg_restore writes: the target, or with --mask the stage database */
    readonly restoreUrl: string;
    /** where rows are counted and masked: `c`, or a connection to the stage database */
    readonly work: Client;
    /** --tables: `schema.table` → where it is loaded (its destination, or with --mask the stage schema) */
    readonly loadMap: Map<string, string>;
    /** --mask: the stage, dropped on failure and promoted once proven */
    readonly stage?: { database: StageDatabase } | { schema: string };
}

/** What the restore did, for the report. */
interface Restored {
    dumpBytes: number;
    restoreErrors: ProcResult;
    checks: CountCheck[];
    masked: MaskResult[] | undefined;
}

async function runRestore(ctx: JobContext, opts: RestoreDbOptions, tables: TableRef[] | undefined, trail: AuditTrail, choose: () => Promise<ChosenDbRun>): Promise<ExitCode> {
    const chosen = await chooseDbRun(ctx, opts, trail, choose);
    const m = chosen.loaded.manifest;
    const dumpObj = checkPolicy(ctx, opts, m);
    // An archived run: its restore requested, exit 8 (pending), before the target is touched.
    await chosen.thaw();
    // The target: refuse surprises before downloading gigabytes.
    const schemaMap = schemaMapFor(tables, opts.intoSchema);
    const { c, supabase } = await openTarget(opts, tables, schemaMap);
    const dir = await mkdtemp(join(tmpdir(), "sb-restore-"));
    let r: DbRestore | undefined;
    try {
        r = { ctx, opts, trail, tables, schemaMap, chosen, m, dumpObj, c, dir, spool: join(dir, "dump"), supabase, ...(await openStage(opts, c, tables, schemaMap, supabase)) };
        const got = await downloadDump(ctx, trail, m, dumpObj, () => chosen.open(dumpObj), r.spool, chosen.mismatchExit);
        await ensureDumpRoles(ctx, m, r.restoreUrl, (o) => chosen.open(o));
        const restoreErrors = await pgRestore(r);
        const restored = restoredPairs(r);
        if (restoreErrors.errorCount) ctx.log.warn({ errors: restoreErrors.errors, count: restoreErrors.errorCount }, "pg_restore reported errors");
        if (!restored.length) ctx.log.warn({ runId: m.runId }, "the manifest records no row counts (verify.tables was empty when it ran): counts not checked");
        // counted where they were loaded, reported where they end up
        const checks = (await trail.time("check", () => countRows(r!.work, m, restored, ctx.log))).map((x) => (r!.tables ? { ...x, restoredAs: `${schemaMap.get(x.table)}.${x.table.split(".")[1]}` } : x));
        const masked = opts.mask ? await trail.time("mask", async () => applyMasking(r!.work, await maskTargets(r!))) : undefined;
        const x = { dumpBytes: got.bytes, restoreErrors, checks, masked };
        printReport(r, x);
        // any failure before this point leaves a --mask stage to the finally, which drops it
        failOnDataErrors(restoreErrors);
        const failure = failureOf(x);
        if (failure) throw new JobFailure(failure);
        if (r.stage) await trail.time("promote", () => promoteStage(r!));
        return tamperingExit(r.chosen);
    } finally {
        if (r?.stage) await dropStage(r);
        if (r && r.work !== c) await r.work.end().catch(() => undefined);
        await c.end().catch(() => undefined);
        await rm(dir, { recursive: true, force: true });
    }
}

/**
 * Where the restore goes: the target itself, or with --mask a stage nobody uses (mask-stage.ts). A
 * Supabase project's database cannot be swapped for a stage, so --mask into one is refused.
 */
async function openStage(opts: RestoreDbOptions, c: Client, tables: TableRef[] | undefined, schemaMap: Map<string, string>, supabase: boolean): Promise<Pick<DbRestore, "restoreUrl" | "work" | "loadMap" | "stage">> {
    if (!opts.mask) return { restoreUrl: opts.targetUrl, work: c, loadMap: schemaMap };
    if (supabase) {
        throw new Refusal(
            "--mask into a Supabase project's database is refused: a masked restore is masked and proven in a database nobody uses and then renamed into place, which a project's database cannot be; restore --mask into a plain database (or use --tables)",
        );
    }
    if (tables) {
        const schema = await createStageSchema(c);
        return { restoreUrl: opts.targetUrl, work: c, loadMap: new Map([...schemaMap.keys()].map((k) => [k, schema])), stage: { schema } };
    }
    const database = await createStageDatabase(c, opts.targetUrl);
    try {
        return { restoreUrl: database.url, work: await connect(database.url), loadMap: schemaMap, stage: { database } };
    } catch (e) {
        await dropStageDatabase(opts.targetUrl, database);
        throw e;
    }
}

/** Proven: the stage becomes the target (marked done, so the finally does not drop it). */
async function promoteStage(r: DbRestore): Promise<void> {
    const stage = r.stage!;
    if ("schema" in stage) await promoteStageTables(r.c, stage.schema, [...r.schemaMap].map(([k, to]) => ({ table: k.split(".")[1], to })), !!r.opts.clean);
    else {
        await r.work.end().catch(() => undefined);
        await promoteStageDatabase(r.opts.targetUrl, stage.database);
    }
    (r as { stage?: DbRestore["stage"] }).stage = undefined;
    r.ctx.log.info({ target: redactUrl(r.opts.targetUrl) }, "masked and proven: the stage is now the target");
}

/** Any failure: the stage and its unmasked rows go; what could not be dropped is said. */
async function dropStage(r: DbRestore): Promise<void> {
    const stage = r.stage!;
    const err = "schema" in stage ? await dropStageSchema(r.c, stage.schema) : await dropStageDatabase(r.opts.targetUrl, stage.database);
    const name = "schema" in stage ? `schema ${stage.schema}` : `database ${stage.database.name}`;
    if (err) r.ctx.log.error({ stage: name, err }, "the unmasked stage could NOT be dropped: drop it by hand");
    else r.ctx.log.warn({ stage: name }, "the restore failed before its masking was proven: the stage was dropped, the target holds nothing of it");
}

async function chooseDbRun(ctx: JobContext, opts: RestoreDbOptions, trail: AuditTrail, choose: () => Promise<ChosenDbRun>): Promise<ChosenDbRun> {
    const chosen = await trail.time("choose", choose);
    trail.setRun(chosen.loaded.manifest.runId);
    ctx.log.info({ runId: chosen.loaded.manifest.runId, manifestVersionId: chosen.loaded.versionId ?? null }, chosen.note);
    if (!opts.json) out(`run: ${chosen.note}\n`);
    // Tampering does not stop the restore: it reads the recorded versions, and says so.
    for (const t of chosen.tampering) ctx.log.error({ runId: chosen.loaded.manifest.runId, tampering: t }, "tampering");
    return chosen;
}

/** Before anything is downloaded: the masking policy, the dump object, the age identity. */
function checkPolicy(ctx: JobContext, opts: RestoreDbOptions, m: DbManifest): DbManifest["objects"][number] {
    const { config } = ctx;
    const targetIsProd = opts.targetEnv !== undefined ? isProdEnv(opts.targetEnv) : isSourceDatabase(opts.targetUrl, m.source);
    if (isProdEnv(config.env) && !targetIsProd && !opts.mask) {
        throw new Refusal(
            `refusing to restore ${config.env} data into a non-production target without --mask (the target is not the source database; pass --mask, or --target-env ${config.env} if the target really is production)`,
        );
    }
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
    if (!r.tables) return r.trail.time("restore", () => restoreFull(targetEnv(r.restoreUrl), r.spool, r.opts.jobs, !!r.opts.clean && !r.stage));
    const t = { c: r.c, env, spool: r.spool, dir: r.dir, runId: r.m.runId, tables: r.tables, schemaMap: r.loadMap, clean: !!r.opts.clean && !r.stage };
    const listFile = await prepareDestinations(t);
    return r.trail.time("restore", () => loadTables(t, listFile));
}

/** Each table whose rows are checked: its name in the dump → where it was restored. */
function restoredPairs(r: DbRestore): Array<{ from: string; to: string }> {
    return r.tables ? restoredTables(r.loadMap) : Object.keys(r.m.snapshot.rowCounts).map((k) => ({ from: k, to: k }));
}

/**
 * The masking rules on the tables as loaded (for --tables: only those, in the stage schema): the
 * config's, then masking.ts's defaults where the column exists and the config has no rule for it.
 */
async function maskTargets(r: DbRestore): Promise<MaskTarget[]> {
    const loadedIn = (table: string): string | undefined => (r.tables ? r.loadMap.get(table) : table.split(".")[0]);
    const configRules: MaskSpec[] = r.ctx.config.masking?.rules ?? [];
    const configured = new Set(configRules.map((x) => `${x.table}.${x.column}`));
    const defaults = DEFAULT_RULES.filter((x) => !configured.has(`${x.table}.${x.column}`));
    const present = await existingColumns(r.work, defaults, loadedIn);
    const targets: MaskTarget[] = [];
    for (const rule of [...configRules, ...defaults]) {
        const schema = loadedIn(rule.table);
        const n = rule.table.split(".")[1];
        if (schema === undefined) continue;
        if (!configured.has(`${rule.table}.${rule.column}`) && !present.has(`${schema}.${n}.${rule.column}`)) continue;
        targets.push({ rule, schema, table: n, label: r.tables ? `${r.schemaMap.get(rule.table)}.${n}` : rule.table });
    }
    // --mask with nothing to mask means the rules do not fit this data: refuse to expose it unproven
    if (!targets.length) throw new JobFailure("--mask: no masking rule (the config's or the defaults) matches a restored column: nothing proven, the stage is dropped");
    return targets;
}

/** What fails the restore: a masking leak or a count mismatch (with --mask: before the stage is promoted). */
function failureOf(x: Restored): string | undefined {
    const leaks = (x.masked ?? []).filter((c) => c.unmasked !== 0);
    const bad = x.checks.filter((c) => !c.ok);
    if (leaks.length) return `masking proof failed: unmasked values remain in ${leaks.map((c) => `${c.table}.${c.column} (${c.unmasked})`).join(", ")}`;
    if (bad.length) return `row counts differ from the manifest: ${bad.map((c) => `${c.table} ${c.restored} ≠ ${c.expected}`).join(", ")}`;
    return undefined;
}

/** The result on stdout (JSON or tables). */
function printReport(r: DbRestore, x: Restored): void {
    const { opts, m } = r;
    const { restoreErrors, checks, masked } = x;
    const result = {
        env: r.ctx.config.env,
        runId: m.runId,
        from: r.chosen.from,
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
                ["dump", `${formatBytes(x.dumpBytes)} from the ${r.chosen.from} (sha256 ok${m.encryption ? ", decrypted" : ""})`],
                ["pg_restore errors", restoreErrors.errorCount ? `${restoreErrors.errorCount} (first: ${restoreErrors.errors[0] ?? "?"})` : "none"],
                ["tables with errors", result.tablesWithErrors.map((t) => `${t.table}${t.expected ? " (expected: platform data)" : ""}`).join(", ") || "none"],
            ]),
        );
        out("\n" + renderTable(["table", "restored as", "manifest rows", "restored rows", "ok"], checks.map((c) => [c.table, c.restoredAs, c.expected, c.restored, c.ok ? "yes" : "NO"])));
        if (masked) out("\n" + renderTable(["masked", "rule", "rows updated", "unmasked left"], masked.map((c) => [`${c.table}.${c.column}`, c.rule, c.updated, c.unmasked])));
    }
}

/** After a restore of a tampered run: the one line, and EXIT.tampered (the data restored is the recorded version). */
function tamperingExit(chosen: ChosenDbRun): ExitCode {
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
