// A drill's outcome, as pure functions: the steps it took, whether its data came back and checked out,
// the measured recovery time against the scenario's target, and the record that says so.
import { DRILL_SCENARIOS, MANIFEST_SCHEMA_VERSION, type DrillKind, type DrillRecord, type DrillResult, type DrillStep } from "@supabase-backups/contracts";

/** What a drill restored, item by item: a table's rows or a bucket's objects, manifest vs restored. */
export interface DrillItem {
    name: string;
    expected: number;
    restored: number | null;
    ok: boolean;
}

/** A drill's state, built up step by step (the engine owns it; the steps add to it). */
export interface DrillState {
    readonly kind: DrillKind;
    readonly drillId: string;
    readonly env: string;
    readonly startedAt: Date;
    readonly rtoTargetSeconds: number;
    runId: string | null;
    targets: string[];
    items: DrillItem[];
    steps: DrillStep[];
    /** the first failure, one line */
    failure?: string;
    /** seconds from the start until the data was restored and checked; set when the check passed */
    rtoSeconds?: number;
    cleanupProblems: string[];
}

/** Run one named step, timed; a throw marks the drill failed with the step's name and message. */
export async function step<T>(d: DrillState, name: string, fn: () => Promise<{ value: T; detail: string }>): Promise<T | undefined> {
    const t = Date.now();
    try {
        const { value, detail } = await fn();
        d.steps.push({ name, ok: true, seconds: (Date.now() - t) / 1000, detail });
        return value;
    } catch (e) {
        const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
        d.steps.push({ name, ok: false, seconds: (Date.now() - t) / 1000, detail: msg });
        d.failure ??= `${name}: ${msg}`;
        return undefined;
    }
}

/** The check every kind ends with: every item restored as the manifest says (and at least one). */
export function checkItems(items: DrillItem[], what: string): string {
    if (!items.length) throw new Error(`nothing to compare: the run records no ${what}`);
    const bad = items.filter((i) => !i.ok);
    if (bad.length) throw new Error(`${bad.map((i) => `${i.name}: ${i.restored ?? "nothing"} restored, the manifest says ${i.expected}`).join("; ")}`);
    return `${what} as the manifest says: ${items.map((i) => `${i.name} ${i.restored}`).join(", ")}`;
}

/** passed, missed-target (restored and checked, but slower than the target) or failed. */
export function drillResult(d: Pick<DrillState, "failure" | "rtoSeconds" | "rtoTargetSeconds">): DrillResult {
    if (d.failure || d.rtoSeconds === undefined) return "failed";
    return d.rtoSeconds > d.rtoTargetSeconds ? "missed-target" : "passed";
}

/** One line: why the drill did not pass (null when it did). */
export function drillReason(d: DrillState): string | null {
    const result = drillResult(d);
    if (result === "failed") return d.failure ?? "the data was not restored and checked";
    if (result === "missed-target") {
        return `restored and checked in ${formatSeconds(d.rtoSeconds!)}, over the ${DRILL_SCENARIOS[d.kind]} target of ${formatSeconds(d.rtoTargetSeconds)}`;
    }
    return null;
}

export function formatSeconds(s: number): string {
    if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
    return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function buildRecord(d: DrillState, finishedAt: Date, auditEventId: string): DrillRecord {
    return {
        schemaVersion: MANIFEST_SCHEMA_VERSION,
        kind: "drill",
        drill: d.kind,
        scenario: DRILL_SCENARIOS[d.kind],
        drillId: d.drillId,
        env: d.env,
        startedAt: d.startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        restored: { runId: d.runId, targets: d.targets, items: d.items },
        steps: d.steps,
        rtoSeconds: d.rtoSeconds ?? null,
        rtoTargetSeconds: d.rtoTargetSeconds,
        result: drillResult(d),
        reason: drillReason(d),
        cleanedUp: d.cleanupProblems.length === 0,
        auditEventId,
    };
}
