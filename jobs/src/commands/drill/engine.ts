// `drill --kind storage|table|full`: a restore rehearsal with a stopwatch (docs/commands/drill.md). The
// steps, each timed: choose the run → restore it into a throw-away target with the operator's own
// `restore db` / `restore storage` (db.ts, storage.ts) → compare what came back with the manifest → the
// measured RTO against the scenario's target → clean up (also after a failure or SIGTERM) → the drill
// record (drill/{env}/{kind}/…, create-only, locked) → metrics. Audited like every operator action.
import {
    DRILL_KINDS,
    DRILL_RESULT_VALUE,
    DRILL_SCENARIOS,
    drillSigningPayload,
    EXIT,
    METRICS,
    newRunId,
    type DrillKind,
    type DrillRecord,
    type DrillsConfig,
    type ExitCode,
} from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { startAudit, type OperatorOptions } from "../../cli/operator";
import { out, outJson, renderPairs, renderTable } from "../../cli/output";
import { pushRunMetrics } from "../../runtime/metrics";
import { JobFailure, UsageError } from "../../runtime/errors";
import { audited, auditRetainUntil } from "../../vault/audit";
import { writeDrillRecord } from "../../vault/drills";
import { recordSigner, signRecord } from "../../vault/record-signing";
import { runDbDrill } from "./db";
import { buildRecord, formatSeconds, type DrillState } from "./outcome";
import { runStorageDrill } from "./storage";

export interface DrillOptions extends OperatorOptions {
    kind: string;
    /** drill this run instead of the newest complete one */
    run?: string;
}

/** The flags, checked before anything runs. */
export function checkDrillFlags(opts: DrillOptions): DrillKind {
    if (!(DRILL_KINDS as readonly string[]).includes(opts.kind)) throw new UsageError(`--kind ${opts.kind}: expected one of ${DRILL_KINDS.join(", ")}`);
    return opts.kind as DrillKind;
}

export async function drill(ctx: CommandContext, opts: DrillOptions, kind: DrillKind): Promise<ExitCode> {
    const drills = ctx.config.drills;
    if (!drills) throw new UsageError(`the config (${ctx.configSource}) has no drills section: set drills in the stack file (docs/configuration.md)`);
    const startedAt = new Date();
    const d: DrillState = {
        kind,
        drillId: newRunId(startedAt),
        env: ctx.config.env,
        startedAt,
        rtoTargetSeconds: drills.rtoMinutes[DRILL_SCENARIOS[kind]] * 60,
        runId: null,
        targets: [],
        items: [],
        steps: [],
        cleanupProblems: [],
    };
    // The drill identity's signer, checked before anything is restored (no key, or the wrong one: a record
    // status would not trust, so the drill fails before it starts; docs/security.md "Tampering with the vault").
    const signer = await recordSigner(ctx.config.vault, ctx.env, "drill");
    const trail = startAudit(ctx, opts, "drill", `drill:${kind}`, { kind, run: opts.run, drillId: d.drillId });
    return audited(
        trail,
        async (t) => {
            await interruptible((signal) => rehearse(ctx, d, drills, `drill ${d.drillId} (${kind}): ${t.reason ?? "restore rehearsal"}`, opts.run, signal));
            if (d.cleanupProblems.length && !d.failure) d.failure = `cleanup: ${d.cleanupProblems.join("; ")}`;
            const built = buildRecord(d, new Date(), t.eventId);
            const record = signer ? await signRecord(built, drillSigningPayload, signer) : built;
            t.setRun(d.runId);
            t.addOptions({ result: record.result, rtoSeconds: record.rtoSeconds, rtoTargetSeconds: record.rtoTargetSeconds });
            const key = await writeDrillRecord(ctx.s3, { bucket: ctx.bucket, kmsKeyArn: ctx.config.vault.kmsKeyArn, retainUntil: auditRetainUntil(startedAt, ctx.config.retention) }, record);
            ctx.log.info({ key, result: record.result, rtoSeconds: record.rtoSeconds }, "drill record written");
            await pushDrillMetrics(ctx, record);
            report(opts, record, key);
            if (record.result === "failed") throw new JobFailure(`${kind} drill FAILED: ${record.reason} (record ${key})`);
            if (record.result === "missed-target") process.stderr.write(`supabase-backups drill: ${kind} drill MISSED its RTO target: ${record.reason} (record ${key})\n`);
            return record.result === "missed-target" ? EXIT.unhealthy : EXIT.ok;
        },
        ctx.log,
    );
}

function rehearse(ctx: CommandContext, d: DrillState, drills: DrillsConfig, reason: string, run: string | undefined, signal: AbortSignal): Promise<void> {
    const x = { ctx, d, drills, reason, run, signal };
    return d.kind === "storage" ? runStorageDrill(x) : runDbDrill(x);
}

/**
 * SIGTERM (the CronJob's deadline, a drained node) or SIGINT stops the running restore; the drill then
 * cleans up and records the failure instead of dying with a copy of the data left behind.
 */
async function interruptible(fn: (signal: AbortSignal) => Promise<void>): Promise<void> {
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    try {
        await fn(ac.signal);
    } finally {
        process.off("SIGTERM", stop);
        process.off("SIGINT", stop);
    }
}

/** supabase_backups_drill_* per drill kind (grouping label `drill`), plus the run metrics every job pushes. */
async function pushDrillMetrics(ctx: CommandContext, r: DrillRecord): Promise<void> {
    const labels = { kind: "drill", drill: r.drill };
    const durationSeconds = (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000;
    const extra: Array<{ name: string; help: string; value: number; labels: Record<string, string> }> = [
        { name: METRICS.drillResult, help: "result of the newest drill: 1 passed, 2 missed-target, 0 failed", value: DRILL_RESULT_VALUE[r.result], labels },
        { name: METRICS.drillDurationSeconds, help: "wall time of the newest drill, cleanup included", value: durationSeconds, labels },
        { name: METRICS.drillRtoTargetSeconds, help: "RTO target of the drill's scenario", value: r.rtoTargetSeconds, labels },
    ];
    if (r.rtoSeconds !== null) {
        extra.push({ name: METRICS.drillRtoSeconds, help: "measured recovery time of the newest drill that restored its data", value: r.rtoSeconds, labels });
        extra.push({ name: METRICS.drillLastSuccessTimestamp, help: "unix time of the newest drill that restored and checked its data", value: Math.floor(Date.parse(r.finishedAt) / 1000), labels });
    }
    const result = r.result === "failed" ? "failure" : "success";
    await pushRunMetrics(ctx.config.alerts.pushgatewayUrl, ctx.config.env, "drill", { result, durationSeconds, extra }, ctx.log, { drill: r.drill });
}

function report(opts: DrillOptions, r: DrillRecord, key: string): void {
    if (opts.json) return outJson({ key, record: r });
    out(
        renderPairs([
            ["drill", `${r.drill} (${r.scenario}) ${r.drillId}`],
            ["run", r.restored.runId ?? "none"],
            ["result", r.result.toUpperCase() + (r.reason ? `: ${r.reason}` : "")],
            ["RTO", `${r.rtoSeconds === null ? "not reached" : formatSeconds(r.rtoSeconds)} (target ${formatSeconds(r.rtoTargetSeconds)})`],
            ["cleaned up", r.cleanedUp ? `yes (${r.restored.targets.join(", ") || "nothing created"})` : "NO"],
            ["record", key],
        ]),
    );
    out("\n" + renderTable(["step", "ok", "seconds", "detail"], r.steps.map((s) => [s.name, s.ok ? "yes" : "NO", s.seconds.toFixed(2), s.detail])));
    if (r.restored.items.length) out("\n" + renderTable(["restored", "manifest", "came back", "ok"], r.restored.items.map((i) => [i.name, i.expected, i.restored, i.ok ? "yes" : "NO"])));
}
