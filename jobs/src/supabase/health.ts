// Supabase's own side of the backups, as check-supabase and status report it: how old Supabase's newest
// backup is, whether PITR is on (with the configured window) where config requires it, and whether the
// project still runs the Postgres version the stack file names (the canary is chosen from it).
import type { JobConfig } from "@supabase-backups/contracts";
import { newestBackup, pitrComputeProblem, pitrVariant, pitrWindow, selectedCompute, selectedPitr, SupabaseApi, SupabaseApiError, type PitrVariant } from "./api";

export interface SupabaseHealth {
    projectRef: string;
    region: string;
    pitrEnabled: boolean;
    walgEnabled: boolean;
    /** the PITR add-on variant selected (read only when config requires PITR) */
    pitrAddon: PitrVariant | null | undefined;
    /** the compute add-on selected (null: the plan's default size; undefined: not read) */
    computeAddon: string | null | undefined;
    pitrWindow: { earliest: string; latest: string } | null;
    backupsCompleted: number;
    newestBackupAt: string | null;
    /** newest restore point: the newest completed backup, or the PITR window's end when PITR is on */
    newestRestorePointAt: string | null;
    backupAgeSeconds: number;
    maxAgeHours: number;
    stale: boolean;
    pitrRequired: boolean;
    pitrWantedDays: number | null;
    pitrOk: boolean;
    /** the project's Postgres as Supabase reports it, and as the stack file says (it picks the canary) */
    postgresVersion: { project: string | null; configured: string };
    problems: string[];
    /** things not checked, and why */
    notes: string[];
}

export async function checkSupabase(api: SupabaseApi, config: JobConfig, now = new Date()): Promise<SupabaseHealth> {
    const s = config.supabase;
    const backups = await api.listBackups(s.projectRef);
    const required = s.pitr.required;
    const wantedDays = s.pitr.days ?? null;
    let addon: PitrVariant | null | undefined = undefined;
    let compute: string | null | undefined = undefined;
    const notes: string[] = [];
    if (required) {
        try {
            const addons = await api.listAddons(s.projectRef);
            addon = selectedPitr(addons) ?? null;
            compute = selectedCompute(addons);
        } catch (e) {
            // Billing needs more rights than reading backups: a token scoped without them still gets the
            // PITR on/off answer from the backups endpoint; the window's variant stays unconfirmed.
            if (!(e instanceof SupabaseApiError) || e.status !== 403) throw e;
            notes.push(`PITR add-on variant not readable with this token (403 on billing/addons): window length not confirmed`);
        }
    }

    const project = await api.getProject(s.projectRef).catch((e) => {
        if (!(e instanceof SupabaseApiError) || e.status !== 403) throw e;
        notes.push("project details not readable with this token (403): the Postgres version is not compared");
        return undefined;
    });
    const newest = newestBackup(backups);
    const window = backups.pitr_enabled ? pitrWindow(backups) : undefined;
    let point = newest?.at;
    if (window && (!point || window.latest > point)) point = window.latest;
    const age = point ? (now.getTime() - point.getTime()) / 1000 : Number.POSITIVE_INFINITY;
    const stale = age > s.backupMaxAgeHours * 3600;

    const problems: string[] = [];
    if (!point) problems.push(`Supabase reports no completed backup for project ${s.projectRef}`);
    else if (stale) problems.push(`Supabase's newest backup is ${(age / 3600).toFixed(1)} h old (${point.toISOString()}), over the ${s.backupMaxAgeHours} h threshold`);
    const running = project?.database?.version ?? null;
    if (running && running !== s.postgresVersion) {
        problems.push(
            `project ${s.projectRef} runs Postgres ${running}, supabase.postgresVersion says ${s.postgresVersion}: the canary no longer matches the source (set supabase.postgresVersion to ${running} and deploy)`,
        );
    }
    const pitrOk = judgePitr(s, backups, { addon, compute, window }, problems);
    return {
        projectRef: s.projectRef,
        region: backups.region,
        pitrEnabled: !!backups.pitr_enabled,
        walgEnabled: !!backups.walg_enabled,
        pitrAddon: addon,
        computeAddon: compute,
        pitrWindow: window ? { earliest: window.earliest.toISOString(), latest: window.latest.toISOString() } : null,
        backupsCompleted: (backups.backups ?? []).filter((b) => String(b.status).toUpperCase() === "COMPLETED").length,
        newestBackupAt: newest ? newest.at.toISOString() : null,
        newestRestorePointAt: point ? point.toISOString() : null,
        backupAgeSeconds: age,
        maxAgeHours: s.backupMaxAgeHours,
        stale,
        pitrRequired: required,
        pitrWantedDays: wantedDays,
        pitrOk,
        postgresVersion: { project: running, configured: s.postgresVersion },
        problems,
        notes,
    };
}

/** PITR where config requires it: a compute too small for it, off, the wrong window, or no window yet. */
function judgePitr(
    s: JobConfig["supabase"],
    backups: { pitr_enabled: boolean },
    seen: { addon: PitrVariant | null | undefined; compute: string | null | undefined; window: unknown },
    problems: string[],
): boolean {
    if (!s.pitr.required) return true;
    const wantedDays = s.pitr.days ?? null;
    let ok = true;
    // Supabase refuses PITR below a Small compute add-on: say so before (or instead of) "PITR is off".
    const computeProblem = seen.compute !== undefined ? pitrComputeProblem(s.projectRef, seen.compute) : undefined;
    if (computeProblem) {
        ok = false;
        problems.push(computeProblem);
    }
    if (!backups.pitr_enabled) {
        problems.push(`PITR is off for project ${s.projectRef}, but config requires it${wantedDays ? ` (${wantedDays} days)` : ""}`);
        return false;
    }
    if (wantedDays && seen.addon !== undefined && seen.addon !== pitrVariant(wantedDays as 7 | 14 | 28)) {
        problems.push(`PITR add-on is ${seen.addon ?? "not selected"}, config wants ${pitrVariant(wantedDays as 7 | 14 | 28)}`);
        return false;
    }
    if (!seen.window) {
        problems.push(`PITR is on but Supabase reports no recovery window yet for project ${s.projectRef}`);
        return false;
    }
    return ok;
}
