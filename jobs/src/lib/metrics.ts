// Run metrics pushed to a Prometheus Pushgateway when one is configured; names from the contracts so
// the PrometheusRule alerts watch exactly what the jobs push.
import { Gauge, Counter, Pushgateway, Registry } from "prom-client";
import { METRICS, type JobKind } from "@supabase-backups/contracts";
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

export function buildRegistry(env: string, kind: JobKind, m: RunMetrics, now = new Date()): Registry {
    const reg = new Registry();
    const labels = { env, kind };
    new Counter({ name: METRICS.runsTotal, help: "runs by result", labelNames: ["env", "kind", "result"], registers: [reg] }).inc({ ...labels, result: m.result });
    new Gauge({ name: METRICS.lastRunStatus, help: "0 failure, 1 success, 2 degraded, 3 partial", labelNames: ["env", "kind"], registers: [reg] }).set(labels, STATUS[m.result]);
    new Gauge({ name: METRICS.durationSeconds, help: "wall time of the run", labelNames: ["env", "kind"], registers: [reg] }).set(labels, m.durationSeconds);
    if (m.result !== "failure") {
        new Gauge({ name: METRICS.lastSuccessTimestamp, help: "unix time of the newest complete run", labelNames: ["env", "kind"], registers: [reg] }).set(labels, Math.floor(now.getTime() / 1000));
    }
    if (m.bytes !== undefined) new Gauge({ name: METRICS.bytes, help: "bytes written by the run", labelNames: ["env", "kind"], registers: [reg] }).set(labels, m.bytes);
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
 * Push to the gateway (grouped by env and kind, so each job kind keeps its own series). A push failure
 * is logged, never fatal: the backup itself matters more than its metric.
 */
export async function pushRunMetrics(url: string | undefined, env: string, kind: JobKind, m: RunMetrics, log: Logger): Promise<void> {
    if (!url) return;
    const reg = buildRegistry(env, kind, m);
    try {
        const gw = new Pushgateway(url, { timeout: 5000 }, reg);
        await gw.pushAdd({ jobName: "supabase-backups", groupings: { env, kind } });
    } catch (e) {
        log.warn({ err: (e as Error).message }, "metrics push failed");
    }
}
