// The last restore drill of each kind (docs/operations.md "Restore drills"): when, result, measured RTO
// against the target, whether it cleaned up — from the newest trusted drill record under
// drill/<env>/<kind>/ (signed by the drill identity once the stack signs drill records). Newer records
// that are not trusted are listed, never counted: unsigned ones as UNTRUSTED, a bad signature as tampering.
import { DRILL_SCENARIOS, type DrillKind, type DrillRecord } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { formatAge, renderTable } from "../../cli/output";
import { lastDrills, type UntrustedDrill } from "../../vault/drills";
import { recordTrust, type SignatureState } from "../../vault/record-signing";

type Shown = Pick<DrillRecord, "drillId" | "finishedAt" | "result" | "reason" | "rtoSeconds" | "rtoTargetSeconds" | "cleanedUp"> & { key: string; runId: string | null };

export interface DrillStatus {
    kind: DrillKind;
    scheduled: boolean;
    /** the newest trusted drill; signature "unsigned" only where no drill signing key is configured */
    last: (Shown & { signature: SignatureState }) | null;
    /** newer records that are not trusted (unsigned, or a signature that does not verify), newest first */
    untrusted: Array<Shown & { signature: UntrustedDrill["signature"] }>;
    /** a record newer than `last` could not be read (key: why) */
    problem?: string;
}

const shown = (key: string, r: DrillRecord): Shown => ({
    key,
    drillId: r.drillId,
    runId: r.restored.runId,
    finishedAt: r.finishedAt,
    result: r.result,
    reason: r.reason,
    rtoSeconds: r.rtoSeconds,
    rtoTargetSeconds: r.rtoTargetSeconds,
    cleanedUp: r.cleanedUp,
});

export async function drillStatus(ctx: CommandContext): Promise<DrillStatus[]> {
    const found = await lastDrills(ctx.s3, ctx.bucket, ctx.config.env, recordTrust(ctx.config.vault, "drill"));
    return found.map((f) => ({
        kind: f.kind,
        scheduled: !!ctx.config.drills?.[f.kind],
        last: f.record ? { ...shown(f.key!, f.record), signature: f.signature! } : null,
        untrusted: f.untrusted.map((u) => ({ ...shown(u.key, u.record), signature: u.signature })),
        ...(f.problem ? { problem: f.problem } : {}),
    }));
}

/** One line per drill record whose signature does not verify (forged, altered or copied under another key). */
export function drillTampering(drills: DrillStatus[]): string[] {
    return drills.flatMap((d) =>
        d.untrusted.filter((u) => u.signature === "invalid").map((u) => `${u.key}: drill record with an invalid signature (forged, altered or moved): not trusted`),
    );
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
        if (d.last?.result === "failed") out.push(`the newest ${d.kind} drill (${d.last.drillId}) FAILED: ${d.last.reason}`);
    }
    return out;
}

const SHOWN_UNTRUSTED = 3;

const minutes = (s: number) => `${(s / 60).toFixed(s < 600 ? 1 : 0)} min`;

export function renderDrills(drills: DrillStatus[], now: Date): string {
    if (!drills.some((d) => d.scheduled || d.last)) return "";
    const row = (kind: DrillKind, l: Shown, result: string) => {
        const when = `${l.finishedAt} (${formatAge((now.getTime() - Date.parse(l.finishedAt)) / 1000)} ago)`;
        const rto = `${l.rtoSeconds === null ? "not reached" : minutes(l.rtoSeconds)} / ${minutes(l.rtoTargetSeconds)}`;
        return [kind, DRILL_SCENARIOS[kind], when, result, rto, l.cleanedUp ? "yes" : "NO"];
    };
    const rows = drills.flatMap((d) => {
        const l = d.last;
        // what the record claims, marked: it is not what the drill recorded, and counts for nothing
        // (at most SHOWN_UNTRUSTED rows each: right after signing is enabled, every older record is unsigned; --json lists all)
        const untrusted = d.untrusted.slice(0, SHOWN_UNTRUSTED).map((u) => row(d.kind, u, `${u.signature === "invalid" ? "FORGED (bad signature)" : "UNTRUSTED (unsigned)"}, claims ${u.result}`));
        if (d.untrusted.length > SHOWN_UNTRUSTED) untrusted.push([d.kind, DRILL_SCENARIOS[d.kind], `… ${d.untrusted.length - SHOWN_UNTRUSTED} more untrusted (status --json)`, "", "", ""]);
        if (!l) return [...untrusted, [d.kind, DRILL_SCENARIOS[d.kind], d.problem ? "UNREADABLE" : d.scheduled ? "never" : "-", "", "", ""]];
        return [...untrusted, row(d.kind, l, l.result === "passed" ? "passed" : l.result.toUpperCase())];
    });
    return "\nRestore drills (newest of each kind):\n" + renderTable(["drill", "scenario", "when", "result", "RTO / target", "cleaned up"], rows);
}
