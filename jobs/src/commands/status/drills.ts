// The last restore drill of each kind (docs/operations.md "Restore drills"): when, result, measured RTO
// against the target, whether it cleaned up — from the drill records under drill/<env>/<kind>/.
import { DRILL_SCENARIOS, type DrillKind, type DrillRecord } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { formatAge, renderTable } from "../../cli/output";
import { lastDrills } from "../../vault/drills";

export interface DrillStatus {
    kind: DrillKind;
    scheduled: boolean;
    last: Pick<DrillRecord, "drillId" | "finishedAt" | "result" | "reason" | "rtoSeconds" | "rtoTargetSeconds" | "cleanedUp"> & { key: string; runId: string | null } | null;
    /** the newest record could not be read */
    problem?: string;
}

export async function drillStatus(ctx: CommandContext): Promise<DrillStatus[]> {
    const found = await lastDrills(ctx.s3, ctx.bucket, ctx.config.env);
    return found.map((f) => ({
        kind: f.kind,
        scheduled: !!ctx.config.drills?.[f.kind],
        last: f.record
            ? {
                  key: f.key!,
                  drillId: f.record.drillId,
                  runId: f.record.restored.runId,
                  finishedAt: f.record.finishedAt,
                  result: f.record.result,
                  reason: f.record.reason,
                  rtoSeconds: f.record.rtoSeconds,
                  rtoTargetSeconds: f.record.rtoTargetSeconds,
                  cleanedUp: f.record.cleanedUp,
              }
            : null,
        ...(f.problem ? { problem: `${f.key}: ${f.problem}` } : {}),
    }));
}

/**
 * A drill whose newest record failed or cannot be read. A scheduled drill that has not run yet is no
 * problem here (a new stack waits up to a quarter for its first full drill): SupabaseBackupDrillLate
 * alerts once its period and grace have passed.
 */
export function drillProblems(drills: DrillStatus[]): string[] {
    const out: string[] = [];
    for (const d of drills) {
        if (d.problem) out.push(`drill record unreadable: ${d.problem}`);
        else if (d.last?.result === "failed") out.push(`the newest ${d.kind} drill (${d.last.drillId}) FAILED: ${d.last.reason}`);
    }
    return out;
}

const minutes = (s: number) => `${(s / 60).toFixed(s < 600 ? 1 : 0)} min`;

export function renderDrills(drills: DrillStatus[], now: Date): string {
    if (!drills.some((d) => d.scheduled || d.last)) return "";
    const rows = drills.map((d) => {
        const l = d.last;
        if (!l) return [d.kind, DRILL_SCENARIOS[d.kind], d.problem ? "UNREADABLE" : d.scheduled ? "never" : "-", "", "", ""];
        const when = `${l.finishedAt} (${formatAge((now.getTime() - Date.parse(l.finishedAt)) / 1000)} ago)`;
        const rto = `${l.rtoSeconds === null ? "not reached" : minutes(l.rtoSeconds)} / ${minutes(l.rtoTargetSeconds)}`;
        return [d.kind, DRILL_SCENARIOS[d.kind], when, l.result === "passed" ? "passed" : l.result.toUpperCase(), rto, l.cleanedUp ? "yes" : "NO"];
    });
    return "\nRestore drills (newest of each kind):\n" + renderTable(["drill", "scenario", "when", "result", "RTO / target", "cleaned up"], rows);
}
