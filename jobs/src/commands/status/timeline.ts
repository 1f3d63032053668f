// The run timeline of `status`: the last N days (UTC) per kind that leaves a record in the vault, one
// mark per run, and a "missing" mark for each firing of the kind's schedule that produced no run. Pure:
// the engine hands over what it read from the vault; render-timeline.ts draws it.
import { firingsBetween, runIdTime } from "@supabase-backups/contracts";

/** verified: passed verification; complete: in the vault, not (yet) verified; degraded: only in the primary vault, or some objects failed; failed: verification failed; missing: the schedule fired, no run. */
export const MARKS = { verified: "✔", complete: "●", degraded: "◐", failed: "✘", missing: "○" } as const;
export type Mark = keyof typeof MARKS;

/** Kinds with a vault record per run. gc and check-supabase leave none: the dashboard shows them. */
export const TIMELINE_KINDS = ["dump", "sync-storage", "verify"] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];
export const NOT_RECORDED = ["gc", "check-supabase"] as const;

export interface TimelineInput {
    now: Date;
    days: number;
    timeZone: string;
    /** a firing counts as due once it is this old (runs take time) */
    graceMinutes: number;
    schedules: Record<TimelineKind, string>;
    dbRuns: Array<{ runId: string; verification: "passed" | "failed" | "unverified" | "unknown"; secondary: string }>;
    storageRuns: Array<{ runId: string; failed: number }>;
    /** the newest verification record of each run */
    verifications: Array<{ runId: string; verifiedAt: string; result: "passed" | "failed" }>;
}

export interface TimelineRun {
    mark: Mark;
    /** the run's start (dump, sync-storage), the record's time (verify), or the firing (missing) */
    at: string;
    /** the run, or for verify the run it verified; absent for missing */
    runId?: string;
}

export interface Timeline {
    /** UTC days, oldest first (YYYY-MM-DD) */
    days: string[];
    rows: Array<{ kind: TimelineKind; schedule: string; cells: TimelineRun[][] }>;
    marks: typeof MARKS;
    notRecorded: readonly string[];
}

const DAY = 86_400_000;
const dayOf = (d: Date) => d.toISOString().slice(0, 10);

function dbMark(r: TimelineInput["dbRuns"][number]): Mark {
    if (r.verification === "failed") return "failed";
    if (r.secondary === "failed") return "degraded";
    return r.verification === "passed" ? "verified" : "complete";
}

/** Every run of each kind in the window, by UTC day, plus one missing mark per unanswered due firing since the kind's first run. */
export function buildTimeline(input: TimelineInput): Timeline {
    const days = Math.max(1, Math.floor(input.days));
    const todayStart = Date.UTC(input.now.getUTCFullYear(), input.now.getUTCMonth(), input.now.getUTCDate());
    const start = new Date(todayStart - (days - 1) * DAY);
    const dayList = Array.from({ length: days }, (_, i) => dayOf(new Date(start.getTime() + i * DAY)));
    const runs: Record<TimelineKind, TimelineRun[]> = {
        dump: input.dbRuns.map((r) => ({ mark: dbMark(r), at: runIdTime(r.runId).toISOString(), runId: r.runId })),
        "sync-storage": input.storageRuns.map((r) => ({ mark: r.failed > 0 ? "degraded" : "complete", at: runIdTime(r.runId).toISOString(), runId: r.runId })),
        verify: input.verifications.map((v) => ({ mark: v.result === "passed" ? "verified" : "failed", at: new Date(v.verifiedAt).toISOString(), runId: v.runId })),
    };
    const dueUntil = new Date(input.now.getTime() - input.graceMinutes * 60_000);
    // Nothing is missing before the stack's first run: a firing counts from the kind's first run on
    // (verify: from the first database run it could have verified).
    const first = (xs: TimelineRun[]) => xs.map((r) => r.at).sort()[0];
    const since: Record<TimelineKind, string | undefined> = {
        dump: first(runs.dump),
        "sync-storage": first(runs["sync-storage"]),
        verify: [first(runs.verify), first(runs.dump)].filter((x): x is string => !!x).sort()[0],
    };
    const rows = TIMELINE_KINDS.map((kind) => {
        const schedule = input.schedules[kind];
        const cells = dayList.map((day) => {
            const dayStart = Date.parse(`${day}T00:00:00.000Z`);
            const from = new Date(Math.max(dayStart, since[kind] ? Date.parse(since[kind]) : Infinity));
            const to = new Date(Math.min(dayStart + DAY, dueUntil.getTime()));
            const inDay = runs[kind].filter((r) => r.at.slice(0, 10) === day).sort((a, b) => a.at.localeCompare(b.at));
            const due = Number.isFinite(from.getTime()) && to > from ? firingsBetween(schedule, input.timeZone, from, to) : [];
            const missing = due.slice(inDay.length).map((f): TimelineRun => ({ mark: "missing", at: f.toISOString() }));
            return [...inDay, ...missing].sort((a, b) => a.at.localeCompare(b.at));
        });
        return { kind, schedule, cells };
    });
    return { days: dayList, rows, marks: MARKS, notRecorded: NOT_RECORDED };
}

/** The timeline from what `status` read: the config's schedules, the db runs as listed, storage manifests, verification records. */
export function timelineOf(
    config: { schedules: { timeZone: string; dump: string; syncStorage: string; verify: string }; alerts: { graceMinutes: number } },
    now: Date,
    days: number,
    dbRuns: TimelineInput["dbRuns"],
    storage: Array<{ manifest: { runId: string; failed: unknown[] } }>,
    verifications: Map<string, { result: "passed" | "failed"; verifiedAt: string }>,
): Timeline {
    const s = config.schedules;
    return buildTimeline({
        now,
        days,
        timeZone: s.timeZone,
        graceMinutes: config.alerts.graceMinutes,
        schedules: { dump: s.dump, "sync-storage": s.syncStorage, verify: s.verify },
        dbRuns,
        storageRuns: storage.map((m) => ({ runId: m.manifest.runId, failed: m.manifest.failed.length })),
        verifications: [...verifications].map(([runId, v]) => ({ runId, verifiedAt: v.verifiedAt, result: v.result })),
    });
}
