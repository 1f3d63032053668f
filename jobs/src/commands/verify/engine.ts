// The `verify` engine: choose the runs to verify, verify each (run.ts) with the newest storage run checked
// alongside, then push metrics, print, and turn the outcomes into the exit code. SIGINT and SIGTERM stop
// everything, drop the canary database and record nothing.
import type { S3Client } from "@aws-sdk/client-s3";
import { EXIT, METRICS, prefixes, runIdTime, type ExitCode } from "@supabase-backups/contracts";
import type { JobContext } from "../../runtime/context";
import { JobFailure, errorMessage } from "../../runtime/errors";
import { pushRunMetrics } from "../../runtime/metrics";
import { formatBytes } from "../../runtime/progress";
import type { CommandContext } from "../../cli/command";
import { listCompleteRuns, type RunRef } from "../../vault/runs";
import { VerificationIndex } from "../../vault/verifications";
import { recordSigner, recordTrust } from "../../vault/record-signing";
import { describeTampering, VersionIndex } from "../../vault/versions";
import { dropCanary, type CanaryDatabase } from "../../postgres/canary";
import { verifyRun, type RunOutcome } from "./run";
import { verifyNewestStorage } from "./storage-sample";
import type { VerifySession } from "./session";
import { needsRestore, thawForVerify } from "./thaw";
import { RestorePending, type ThawOptions } from "../../vault/thaw";

export interface VerifyOptions {
    /** verify this run only */
    run?: string;
    /** verify every complete run without a passed record, oldest first */
    unverified: boolean;
    jobs: number;
    scratch: string;
    storage: boolean;
    statementTimeoutMs: number;
    /** Postgres URL of a superuser on the canary server */
    canaryUrl: string;
    json: boolean;
    /** --run: how to request the restore of an archived run (issue 17); nightly runs never request one */
    thaw?: ThawOptions;
}

/** SIGINT/SIGTERM: abort, and drop the live canary databases at once. */
interface Interrupt {
    signal: AbortSignal;
    liveCanary: Set<CanaryDatabase>;
    release(): void;
}

function trapSignals(ctx: JobContext, canaryUrl: string): Interrupt {
    const ac = new AbortController();
    const liveCanary = new Set<CanaryDatabase>();
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (sig: NodeJS.Signals) => {
        if (interrupted) return;
        interrupted = sig;
        ctx.log.warn({ signal: sig, canary: [...liveCanary].map((c) => c.name) }, "interrupted: stopping and dropping the canary database");
        ac.abort(new JobFailure(`interrupted by ${sig}; canary database dropped, nothing recorded`, EXIT.failed));
        // Drop now (WITH FORCE ends pg_restore's and the checks' sessions); the finally blocks drop again.
        for (const c of liveCanary) void dropCanary(canaryUrl, c, ctx.log);
        // Cleanup runs in the finally blocks; a hard stop if it hangs.
        setTimeout(() => process.exit(EXIT.failed), 30_000).unref();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    return {
        signal: ac.signal,
        liveCanary,
        release: () => {
            process.off("SIGINT", onSignal);
            process.off("SIGTERM", onSignal);
        },
    };
}

export async function runVerify(ctx: CommandContext, opts: VerifyOptions): Promise<ExitCode> {
    const started = Date.now();
    const s3 = ctx.s3;
    const interrupt = trapSignals(ctx, opts.canaryUrl);
    const outcomes: RunOutcome[] = [];
    const tampering: string[] = [];
    let failure: unknown;
    try {
        await verifyTargets(ctx, s3, opts, interrupt, outcomes, tampering);
    } catch (err) {
        const { signal } = interrupt;
        failure = signal.aborted && signal.reason instanceof JobFailure ? signal.reason : err;
    } finally {
        interrupt.release();
        // Belt and braces: anything still live (an exception between create and drop) goes now.
        for (const c of interrupt.liveCanary) await dropCanary(opts.canaryUrl, c, ctx.log);
    }
    // A pending restore judged nothing and failed nothing: no metrics (the nightly alerts stay quiet).
    if (!(failure instanceof RestorePending)) await pushVerifyMetrics(ctx, s3, started, outcomes, failure, failure ? undefined : tampering.length);
    s3.destroy();
    return report(opts, outcomes, failure, tampering);
}

/**
 * Verify each target in turn, appending to `outcomes` (kept when a later run throws); then every key of
 * the env overwritten since the jobs wrote it, and every record with an invalid signature, to `tampering`.
 */
async function verifyTargets(ctx: JobContext, s3: S3Client, opts: VerifyOptions, interrupt: Interrupt, outcomes: RunOutcome[], tampering: string[]): Promise<void> {
    const bucket = ctx.config.vault.bucket;
    const env = ctx.config.env;
    // The signer first: a key that does not match the configured public key is found before any work.
    const signer = await recordSigner(ctx.config.vault, ctx.env);
    const complete = await listCompleteRuns(s3, bucket, env, "db");
    const records = await VerificationIndex.load(s3, bucket, env, recordTrust(ctx.config.vault));
    const versions = await VersionIndex.load(s3, bucket, prefixes.db(env));
    if (!versions.available) ctx.log.warn("the vault lists no object versions: reads cannot be pinned to the versions the jobs wrote, and overwrites cannot be detected");
    const targets = await chooseTargets(ctx, opts, complete, records);
    const session: VerifySession = {
        ctx,
        s3,
        bucket,
        canaryUrl: opts.canaryUrl,
        jobs: opts.jobs,
        scratch: opts.scratch,
        signal: interrupt.signal,
        records,
        versions,
        signer,
        complete,
        statementTimeoutMs: opts.statementTimeoutMs,
        liveCanary: interrupt.liveCanary,
    };
    // Storage is checked once, alongside the newest target's restore (network vs CPU).
    const { storageSampleRatio: ratio, storageSampleMin: min } = ctx.config.verify;
    const storage = opts.storage ? verifyNewestStorage({ s3, bucket, env: ctx.config.env, ratio, min, signal: interrupt.signal, ...(ctx.config.archive ? { archive: { target: ctx.config.archive, env: ctx.env } } : {}) }) : undefined;
    storage?.catch(() => undefined);
    for (let i = 0; i < targets.length; i++) {
        interrupt.signal.throwIfAborted();
        if (opts.thaw) await thawForVerify(session, targets[i].runId, opts.thaw);
        else if (opts.unverified && (await needsRestore(session, targets[i].runId))) {
            ctx.log.warn({ runId: targets[i].runId }, "archived: not verified tonight (its objects need a restore first: verify --run requests it)");
            continue;
        }
        const o = await verifyRun(session, targets[i], i === targets.length - 1 ? storage : undefined);
        outcomes.push(o);
        if (!opts.json) printHuman(o);
    }
    for (const t of versions.overwritten()) tampering.push(describeTampering(t));
    for (const t of (await storage?.catch(() => undefined))?.tampered ?? []) tampering.push(describeTampering(t));
    for (const k of await records.forged(true)) tampering.push(`${k}: verification record with an invalid signature (forged or altered)`);
    for (const t of tampering) ctx.log.error({ tampering: t }, "tampering");
}

/** --run: that run (even when not complete: verify says why); --unverified: each without a passed record; else the newest. */
async function chooseTargets(ctx: JobContext, opts: VerifyOptions, complete: RunRef[], records: VerificationIndex): Promise<RunRef[]> {
    if (opts.run) return [complete.find((r) => r.runId === opts.run) ?? { runId: opts.run, manifestKey: "" }];
    if (opts.unverified) {
        const targets: RunRef[] = [];
        for (const r of complete) if (!(await records.passed(r.runId))) targets.push(r);
        if (!targets.length) ctx.log.info("every complete run has a passed verification");
        return targets;
    }
    const newest = complete[complete.length - 1];
    if (!newest) throw new JobFailure(`no complete database run under ${prefixes.db(ctx.config.env)}: nothing to verify`, EXIT.failed);
    return [newest];
}

/** Metrics: result, duration, measured restore time, and the age of the newest verified run. */
async function pushVerifyMetrics(ctx: JobContext, s3: S3Client, started: number, outcomes: RunOutcome[], failure: unknown, tampered: number | undefined): Promise<void> {
    const passed = outcomes.filter((o) => o.record.result === "passed");
    const failed = outcomes.some((o) => o.record.result === "failed");
    const newestPassed = passed.map((o) => o.record.runId).sort().pop() ?? (await newestVerifiedRun(s3, ctx).catch(() => undefined));
    const restore = passed.length ? passed[passed.length - 1].restoreSeconds : undefined;
    await pushRunMetrics(
        ctx.config.alerts.pushgatewayUrl,
        ctx.config.env,
        "verify",
        {
            result: failure || failed ? "failure" : "success",
            durationSeconds: (Date.now() - started) / 1000,
            bytes: outcomes.reduce((s, o) => s + o.record.dumpBytes, 0) || undefined,
            restoreSeconds: restore,
            extra: [
                ...(newestPassed
                    ? [{ name: METRICS.verifiedRunAgeSeconds, help: "seconds since the newest run that passed verification started", value: Math.round((Date.now() - runIdTime(newestPassed).getTime()) / 1000) }]
                    : []),
                // Only when the scan ran: an interrupted verify must not report "no tampering".
                ...(tampered !== undefined ? [{ name: METRICS.tamperedObjects, help: "vault objects overwritten after the jobs wrote them, and verification records with an invalid signature", value: tampered }] : []),
            ],
        },
        ctx.log,
    );
}

/** Newest run with a passed record (for the age metric when this invocation verified nothing new). */
async function newestVerifiedRun(s3: S3Client, ctx: JobContext): Promise<string | undefined> {
    const idx = await VerificationIndex.load(s3, ctx.config.vault.bucket, ctx.config.env, recordTrust(ctx.config.vault));
    for (const runId of idx.runIds().sort().reverse()) if (await idx.passed(runId)) return runId;
    return undefined;
}

/** --json output, then the exit: 1 when the verifier could not judge, 7 on tampering, 5 when a run failed verification. */
function report(opts: VerifyOptions, outcomes: RunOutcome[], failure: unknown, tampering: string[]): ExitCode {
    if (opts.json) process.stdout.write(JSON.stringify({ records: outcomes.map((o) => ({ key: o.key, ...o.record })) }, null, 2) + "\n");
    if (failure) {
        if (failure instanceof JobFailure) throw failure;
        throw new JobFailure(`could not verify: ${errorMessage(failure)}`, EXIT.failed, failure);
    }
    if (tampering.length) {
        throw new JobFailure(`TAMPERING: ${tampering[0]}${tampering.length > 1 ? ` (and ${tampering.length - 1} more)` : ""}; verified the versions the jobs wrote`, EXIT.tampered);
    }
    const failed = outcomes.filter((o) => o.record.result === "failed");
    if (failed.length) {
        const f = failed[0];
        throw new JobFailure(`run ${f.record.runId} failed verification: ${f.record.reason}${failed.length > 1 ? ` (and ${failed.length - 1} more runs)` : ""}`, EXIT.verifyFailed);
    }
    return EXIT.ok;
}

function printHuman(o: RunOutcome): void {
    const r = o.record;
    const d = r.durations;
    const head =
        r.result === "passed"
            ? `verify ${r.runId}: passed in ${d.totalSeconds.toFixed(1)} s (download ${d.downloadSeconds.toFixed(1)} s, restore ${d.restoreSeconds.toFixed(1)} s, checks ${d.checksSeconds.toFixed(1)} s), ${formatBytes(r.dumpBytes)}`
            : `verify ${r.runId}: FAILED: ${r.reason}`;
    process.stdout.write(head + "\n");
    for (const c of r.checks) process.stdout.write(`  ${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}\n`);
    process.stdout.write(`  record: ${o.key}\n`);
}
