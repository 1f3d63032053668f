// `status` as a picture: the run timeline (timeline.ts), the tiers held with their retain-until, and the
// RPO and RTO against their targets, in at most `width` columns (80 by default). Pure text in, text out.
import { formatAge } from "../../cli/output";
import { formatBytes } from "../../runtime/progress";
import { MARKS, type Timeline } from "./timeline";

export interface Rto {
    /** the full-restore target (rtoTargetOf), when set */
    targetMinutes: number | null;
    /** measured canary restore of the newest verified run */
    restoreSeconds: number | null;
    runId: string | null;
    bytes: number | null;
    met: boolean | null;
}

export interface Picture {
    timeline: Timeline;
    rpo: { targetHours: number; newestCompleteRunId: string | null; ageHours: number | null; met: boolean };
    rto: Rto;
    dbTiers: Array<{ tier: string; runs: number; retainUntil: string }>;
    storageTiers: Array<{ tier: string; runs: number }>;
}

const LABEL = 14;

/**
 * The target a full restore is held to: drills.rtoMinutes.fullLoss when drills are configured (the
 * config refuses alerts.rtoMinutes beside it: one target per scenario), else alerts.rtoMinutes.
 */
export function rtoTargetOf(config: { alerts: { rtoMinutes?: number }; drills?: { rtoMinutes: { fullLoss: number } } }): number | undefined {
    return config.drills?.rtoMinutes.fullLoss ?? config.alerts.rtoMinutes;
}

/** The RTO: the newest verified run's measured restore against the full-restore target (rtoTargetOf). */
export function rtoOf(newestVerified: { runId: string; restoreSeconds: number | null } | null, bytesOf: (runId: string) => number | undefined, targetMinutes: number | undefined): Rto {
    const restoreSeconds = newestVerified?.restoreSeconds ?? null;
    const target = targetMinutes ?? null;
    return {
        targetMinutes: target,
        restoreSeconds,
        runId: newestVerified?.runId ?? null,
        bytes: newestVerified ? (bytesOf(newestVerified.runId) ?? null) : null,
        met: target === null ? null : restoreSeconds !== null && restoreSeconds <= target * 60,
    };
}

/** Words joined into lines of at most `width`, the first after `label`, the others indented under it. */
function wrap(label: string, items: string[], width: number, sep = ", "): string[] {
    const lines: string[] = [];
    let cur = label.padEnd(LABEL);
    let first = true;
    for (const [i, item] of items.entries()) {
        const piece = item + (i < items.length - 1 ? sep.trimEnd() : "");
        if (!first && cur.length + 1 + piece.length > width) {
            lines.push(cur.trimEnd());
            cur = " ".repeat(LABEL);
            first = true;
        }
        cur += (first ? "" : " ") + piece;
        first = false;
    }
    lines.push(cur.trimEnd());
    return lines;
}

/** The grid: a month line, a day-of-month line, one line per kind; split into blocks that fit `width`. */
function grid(t: Timeline, width: number): string[] {
    const cellW = t.days.map((_, d) => Math.max(2, ...t.rows.map((r) => r.cells[d].length)) + 1);
    const blocks: number[][] = [[]];
    let used = LABEL;
    for (let d = 0; d < t.days.length; d++) {
        if (used + cellW[d] > width && blocks.at(-1)!.length) {
            blocks.push([]);
            used = LABEL;
        }
        blocks.at(-1)!.push(d);
        used += cellW[d];
    }
    const out: string[] = [];
    for (const block of blocks) {
        let months = " ".repeat(LABEL);
        let dates = " ".repeat(LABEL);
        let lastMonth = "";
        let lastLabelAt = -1;
        for (const d of block) {
            const month = new Date(`${t.days[d]}T00:00:00Z`).toLocaleString("en", { month: "short", timeZone: "UTC" });
            if (month !== lastMonth) {
                // a month shown for too few days to hold its name gives way to the next one
                if (months.trimEnd().length >= dates.length) months = months.slice(0, lastLabelAt);
                lastLabelAt = dates.length;
                months = months.padEnd(dates.length) + month;
            }
            lastMonth = month;
            dates += t.days[d].slice(8, 10).padEnd(cellW[d]);
        }
        out.push(months.trimEnd(), dates.trimEnd());
        for (const row of t.rows) {
            let line = row.kind.padEnd(LABEL);
            for (const d of block) line += (row.cells[d].map((r) => MARKS[r.mark]).join("") || "·").padEnd(cellW[d]);
            out.push(line.trimEnd());
        }
    }
    return out;
}

/** A sentence after its label, wrapped at word boundaries. */
const sentence = (label: string, text: string, width: number) => wrap(label, text.split(" "), width, " ");

function rpoText(r: Picture["rpo"]): string {
    const what = r.newestCompleteRunId ? `newest complete dump ${formatAge(r.ageHours! * 3600)} ago` : "no complete dump";
    return `${what}; target ${r.targetHours} h: ${r.met ? "met" : "MISSED"}`;
}

function rtoText(r: Rto): string {
    if (r.restoreSeconds === null) return `no measured restore yet (no verified run)${r.targetMinutes !== null ? `; target ${r.targetMinutes} min: UNKNOWN` : ""}`;
    const size = r.bytes !== null ? ` of ${formatBytes(r.bytes)}` : "";
    const perGb = r.bytes ? ` (${(r.restoreSeconds / (r.bytes / 1e9)).toFixed(1)} s/GB)` : "";
    const target = r.targetMinutes === null ? "no target set (drills.rtoMinutes.fullLoss or alerts.rtoMinutes)" : `target ${r.targetMinutes} min: ${r.met ? "met" : "MISSED"}`;
    return `canary restore${size}: ${r.restoreSeconds.toFixed(1)} s${perGb}; ${target}`;
}

/** The whole picture, newline-terminated. */
export function renderPicture(p: Picture, width = 80): string {
    const t = p.timeline;
    const legend = (Object.keys(MARKS) as Array<keyof typeof MARKS>).map((k) => `${MARKS[k]} ${k}`).join("  ");
    const lines = [
        `Runs per day (UTC), ${t.days[0]} .. ${t.days.at(-1)}`,
        ...wrap("", [legend, "· none due"], width, "  "),
        ...grid(t, width),
        ...sentence("", `${t.notRecorded.join(" and ")} leave no run record in the vault: the Grafana dashboard shows them.`, width),
        "",
        ...wrap("tiers held", p.dbTiers.length ? p.dbTiers.map((x) => `${x.tier} ${x.runs} until ${x.retainUntil.slice(0, 10)}`) : ["no database run"], width),
        ...(p.storageTiers.length ? wrap("", [`storage: ${p.storageTiers.map((x) => `${x.tier} ${x.runs}`).join(", ")}`], width) : []),
        ...sentence("RPO", rpoText(p.rpo), width),
        ...sentence("RTO", rtoText(p.rto), width),
    ];
    return lines.join("\n") + "\n";
}
