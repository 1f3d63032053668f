// Run metrics pushed to a Prometheus Pushgateway when one is configured; names from the contracts so
// the PrometheusRule alerts watch exactly what the jobs push.
import { Gauge, Counter, Pushgateway, Registry } from "prom-client";
import { JOB_ENV, METRIC_LABELS, METRICS, type JobKind } from "@supabase-backups/contracts";
import type { Logger } from "./log";

export type RunResult = "success" | "failure" | "degraded" | "partial";
const STATUS: Record<RunResult, number> = { failure: 0, success: 1, degraded: 2, partial: 3 };

export interface RunMetrics {
    result: RunResult;
    bytes?: number;
    durationSeconds: number;
    /** extra gauges: name from METRICS → value (labels env, kind; plus `state` for objects) */
    objects?: { copied: number; skipped: number; failed: number };
    restoreSeconds?: number;
    extra?: Array<{ name: string; help: string; value: number; labels?: Record<string, string> }>;
}

/** What the gateway already holds for this group and is carried forward into the next push. */
export interface CarriedForward {
    consecutiveFailures?: number;
    /** runs_total per result as the gateway holds it */
    runsTotal?: Partial<Record<string, number>>;
}

export function buildRegistry(env: string, kind: JobKind, m: RunMetrics, now = new Date(), carried: CarriedForward = {}): Registry {
    const reg = new Registry();
    const labels = { env, kind };
    if (carried.consecutiveFailures !== undefined) {
        new Gauge({ name: METRICS.consecutiveFailures, help: "consecutive failed runs (0 after a success)", labelNames: ["env", "kind"], registers: [reg] }).set(labels, carried.consecutiveFailures);
    }
    // pushAdd replaces a metric of the group as a whole: every result's total is pushed each time, the
    // gateway's count plus this run, so the counter keeps counting across pods (rate()/increase() work).
    const runs = new Counter({ name: METRICS.runsTotal, help: "runs by result", labelNames: ["env", "kind", "result"], registers: [reg] });
    for (const [result, v] of Object.entries(carried.runsTotal ?? {})) if (v && v > 0 && result !== m.result) runs.inc({ ...labels, result }, v);
    runs.inc({ ...labels, result: m.result }, (carried.runsTotal?.[m.result] ?? 0) + 1);
    new Gauge({ name: METRICS.lastRunStatus, help: "0 failure, 1 success, 2 degraded, 3 partial", labelNames: ["env", "kind"], registers: [reg] }).set(labels, STATUS[m.result]);
    new Gauge({ name: METRICS.durationSeconds, help: "wall time of the run", labelNames: ["env", "kind"], registers: [reg] }).set(labels, m.durationSeconds);
    if (m.result !== "failure") {
        new Gauge({ name: METRICS.lastSuccessTimestamp, help: "unix time of the newest complete run", labelNames: ["env", "kind"], registers: [reg] }).set(labels, Math.floor(now.getTime() / 1000));
    }
    // A failed run wrote nothing that counts: no size, so the size-anomaly alert and the 7-day median
    // keep the newest good run's (the gauge stays as the gateway holds it).
    if (m.bytes !== undefined && m.result !== "failure") new Gauge({ name: METRICS.bytes, help: "bytes written by the run", labelNames: ["env", "kind"], registers: [reg] }).set(labels, m.bytes);
    if (m.objects) {
        const g = new Gauge({ name: METRICS.objects, help: "objects by state", labelNames: ["env", "kind", "state"], registers: [reg] });
        for (const [state, v] of Object.entries(m.objects)) g.set({ ...labels, state }, v);
    }
    if (m.restoreSeconds !== undefined) new Gauge({ name: METRICS.restoreSeconds, help: "measured canary restore time", labelNames: ["env"], registers: [reg] }).set({ env }, m.restoreSeconds);
    for (const x of m.extra ?? []) {
        const names = Object.keys(x.labels ?? {});
        new Gauge({ name: x.name, help: x.help, labelNames: ["env", ...names], registers: [reg] }).set({ env, ...(x.labels ?? {}) }, x.value);
    }
    return reg;
}

/**
 * The grouping key: env and kind, plus the CronJob's name when set (a kind with several CronJobs, like
 * sync-storage with per-bucket schedules, keeps one series per schedule and one dead man's switch each).
 * The Pushgateway adds grouping labels to every metric of the group.
 */
export function groupingFor(env: string, kind: JobKind, procEnv: NodeJS.ProcessEnv = process.env): Record<string, string> {
    const cron = procEnv[JOB_ENV.cronJob];
    return { [METRIC_LABELS.env]: env, [METRIC_LABELS.kind]: kind, ...(cron ? { [METRIC_LABELS.cronJob]: cron } : {}) };
}

/** Every series of a metric in this group as the gateway holds it now (text exposition format). */
export function readSeries(exposition: string, name: string, grouping: Record<string, string>): Array<{ labels: Record<string, string>; value: number }> {
    const out: Array<{ labels: Record<string, string>; value: number }> = [];
    for (const line of exposition.split("\n")) {
        if (!line.startsWith(name + "{")) continue;
        const m = /^[^{]+\{(.*)\}\s+(\S+)/.exec(line);
        if (!m) continue;
        const labels = Object.fromEntries([...m[1].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
        const same = Object.entries(grouping).every(([k, v]) => labels[k] === v) && (grouping[METRIC_LABELS.cronJob] !== undefined || labels[METRIC_LABELS.cronJob] === undefined);
        if (same) out.push({ labels, value: Number(m[2]) });
    }
    return out;
}

/** The value of a gauge in this group as the gateway holds it now. */
export function readGauge(exposition: string, name: string, grouping: Record<string, string>): number | undefined {
    return readSeries(exposition, name, grouping)[0]?.value;
}

/** What to carry forward from the gateway's exposition: the failure streak and the run counters. */
export function carriedFrom(exposition: string, grouping: Record<string, string>): CarriedForward {
    const runsTotal: Record<string, number> = {};
    for (const s of readSeries(exposition, METRICS.runsTotal, grouping)) if (s.labels.result && Number.isFinite(s.value)) runsTotal[s.labels.result] = s.value;
    return { consecutiveFailures: readGauge(exposition, METRICS.consecutiveFailures, grouping), runsTotal };
}

/**
 * Push to the gateway. The consecutive-failure count and the run counters are carried forward from what
 * the gateway holds for this group, so "failed twice in a row" and the failure rate need no state in the
 * job. A push failure is logged, never fatal: the backup itself matters more than its metric.
 */
export async function pushRunMetrics(url: string | undefined, env: string, kind: JobKind, m: RunMetrics, log: Logger, extraGrouping: Record<string, string> = {}): Promise<void> {
    if (!url) return;
    // extraGrouping: a kind whose runs are of several sorts (drill: storage, table, full) keeps a group each
    const groupings = { ...groupingFor(env, kind), ...extraGrouping };
    try {
        let previous: CarriedForward = {};
        try {
            const r = await fetch(`${url.replace(/\/$/, "")}/metrics`, { signal: AbortSignal.timeout(5000) });
            if (r.ok) previous = carriedFrom(await r.text(), { job: "supabase-backups", ...groupings });
        } catch {
            previous = {}; // unknown: count from this run (Prometheus reads a counter reset as a reset)
        }
        const consecutive = m.result === "failure" ? (previous.consecutiveFailures ?? 0) + 1 : 0;
        const reg = buildRegistry(env, kind, m, new Date(), { consecutiveFailures: consecutive, runsTotal: previous.runsTotal });
        const gw = new Pushgateway(url, { timeout: 5000 }, reg);
        await gw.pushAdd({ jobName: "supabase-backups", groupings });
    } catch (e) {
        log.warn({ err: (e as Error).message }, "metrics push failed");
    }
}
