// `restore pitr` and `restore branch`: the Supabase side of a restore, through the Management API.
// PITR: show the window, confirm it covers the incident, ask for incident time − 5 min (the seeds' rule),
// only with --yes. Branch: a side-by-side copy to inspect instead of rewinding the project.
import { EXIT, type ExitCode } from "@supabase-backups/contracts";
import { audited, Refusal } from "../../vault/audit";
import { UsageError } from "../../runtime/errors";
import type { CommandContext } from "../../cli/command";
import { durationFlag, managementApi, startAudit, timeFlag, type OperatorOptions } from "../../cli/operator";
import { pitrWindow } from "../../supabase/api";
import { loadOpenIncident } from "../../vault/incidents";
import { out, outJson, renderPairs } from "../../cli/output";

export interface PitrOptions extends OperatorOptions {
    incidentTime?: string;
    /** the open incident's time, from its `incident start` audit record */
    beforeIncident?: boolean;
    before: string;
    yes?: boolean;
}

/** The times asked for: the incident, and the restore point --before it (whole seconds). */
export interface PitrTimes {
    incident: Date;
    target: Date;
}

/**
 * The flags, checked before anything runs: --incident-time or --before-incident, and --before (usage
 * errors, exit 2). Null: the time comes from the open incident, read from the vault by restorePitr.
 */
export function checkPitrFlags(opts: PitrOptions): PitrTimes | null {
    const beforeMs = durationFlag("--before", opts.before);
    if (beforeMs < 0) throw new UsageError("--before must not be negative");
    if (opts.incidentTime && opts.beforeIncident) throw new UsageError("give --incident-time or --before-incident, not both");
    if (!opts.incidentTime && !opts.beforeIncident) throw new UsageError("when? give --incident-time TIME, or --before-incident for the open incident's time (incident start records it)");
    return opts.incidentTime ? pitrTimes(timeFlag("--incident-time", opts.incidentTime), beforeMs) : null;
}

function pitrTimes(incident: Date, beforeMs: number): PitrTimes {
    return { incident, target: new Date(Math.floor((incident.getTime() - beforeMs) / 1000) * 1000) };
}

async function incidentTimes(ctx: CommandContext, opts: PitrOptions): Promise<PitrTimes> {
    const open = await loadOpenIncident(ctx.s3, ctx.bucket, ctx.config.env);
    if (!open) throw new UsageError(`--before-incident: no open incident for env ${ctx.config.env} in the audit log (incident start records one)`);
    return pitrTimes(new Date(open.incidentTime), durationFlag("--before", opts.before));
}

export async function restorePitr(ctx: CommandContext, opts: PitrOptions, times: PitrTimes | null): Promise<ExitCode> {
    const { incident, target } = times ?? (await incidentTimes(ctx, opts));
    const ref = ctx.config.supabase.projectRef;
    const api = managementApi(ctx);
    const trail = startAudit(ctx, opts, "restore-pitr", `supabase:${ref}`, {
        incidentTime: incident.toISOString(),
        before: opts.before,
        targetTime: target.toISOString(),
        yes: !!opts.yes,
    });

    const plan = {
        env: ctx.config.env,
        projectRef: ref,
        pitrEnabled: false,
        window: null as { earliest: string; latest: string } | null,
        incidentTime: incident.toISOString(),
        targetTime: target.toISOString(),
        targetUnix: Math.floor(target.getTime() / 1000),
        covered: false,
        requested: false,
    };
    const look = async () => {
        const backups = await api.listBackups(ref);
        const window = backups.pitr_enabled ? pitrWindow(backups) : undefined;
        plan.pitrEnabled = !!backups.pitr_enabled;
        plan.window = window ? { earliest: window.earliest.toISOString(), latest: window.latest.toISOString() } : null;
        plan.covered = !!window && target >= window.earliest && target <= window.latest;
        if (!opts.json) {
            out(
                renderPairs([
                    ["project", ref],
                    ["PITR", plan.pitrEnabled ? "on" : "off"],
                    ["window", plan.window ? `${plan.window.earliest} .. ${plan.window.latest}` : "none"],
                    ["incident time", plan.incidentTime],
                    ["restore to", `${plan.targetTime} (incident − ${opts.before})`],
                    ["covered", plan.covered ? "yes" : "NO"],
                ]),
            );
            if (window && incident > window.latest) out(`  ! the incident time is after the newest restore point (${plan.window!.latest})\n`);
        }
    };

    if (!opts.yes) {
        // Nothing is requested without --yes: the plan is the dry run.
        await look();
        if (opts.json) outJson({ ...plan, dryRun: true });
        else out("\nNothing done. The project's database would be REPLACED by its state at the time above and be unavailable meanwhile; rerun with --yes to request it.\n");
        return plan.covered ? EXIT.ok : EXIT.usage;
    }

    return audited(
        trail,
        async () => {
            await trail.time("check", look);
            if (!plan.pitrEnabled) throw new Refusal(`PITR is not enabled for project ${ref}: no point-in-time restore possible (restore db from the vault instead)`);
            if (!plan.window) throw new Refusal(`Supabase reports no PITR window for project ${ref} yet`);
            if (!plan.covered) {
                throw new Refusal(
                    `the PITR window ${plan.window.earliest} .. ${plan.window.latest} does not cover ${plan.targetTime} (incident ${plan.incidentTime} − ${opts.before}); nothing requested`,
                );
            }
            await trail.time("request", () => api.restorePitr(ref, plan.targetUnix));
            plan.requested = true;
            if (opts.json) outJson(plan);
            else out(`\nRestore to ${plan.targetTime} requested for ${ref}. The project is unavailable until Supabase finishes; watch the dashboard.\n`);
            return EXIT.ok;
        },
        ctx.log,
    );
}

export interface BranchOptions extends OperatorOptions {
    name?: string;
    incidentTime?: string;
    persistent?: boolean;
    withData: boolean;
}

/** The flags, checked before anything runs: the branch name (default restore-<yyyymmddhhmm>), --incident-time. */
export function checkBranchFlags(opts: BranchOptions, now = new Date()): { name: string; incident: Date | undefined } {
    const name = opts.name ?? `restore-${now.toISOString().slice(0, 16).replace(/[-:T]/g, "")}`;
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(name)) throw new UsageError(`--name "${name}": letters, digits, . _ - only`);
    return { name, incident: opts.incidentTime ? timeFlag("--incident-time", opts.incidentTime) : undefined };
}

export async function restoreBranch(ctx: CommandContext, opts: BranchOptions, { name, incident }: { name: string; incident: Date | undefined }): Promise<ExitCode> {
    const ref = ctx.config.supabase.projectRef;
    const api = managementApi(ctx);
    const trail = startAudit(ctx, opts, "restore-branch", `supabase:${ref}`, {
        branchName: name,
        withData: opts.withData,
        persistent: !!opts.persistent,
        incidentTime: incident?.toISOString(),
    });
    return audited(
        trail,
        async () => {
            const b = await trail.time("request", () => api.createBranch(ref, { branch_name: name, with_data: opts.withData, persistent: !!opts.persistent }));
            trail.setTarget(`supabase:${ref} branch ${b.name} (${b.project_ref})`);
            const result = { env: ctx.config.env, parentProjectRef: ref, branch: { id: b.id, name: b.name, projectRef: b.project_ref, status: b.status, withData: opts.withData }, incidentTime: incident?.toISOString() ?? null };
            if (opts.json) outJson(result);
            else {
                out(
                    renderPairs([
                        ["branch", `${b.name} (${b.project_ref})`],
                        ["parent", ref],
                        ["status", b.status],
                        ["data", opts.withData ? "copied from the project" : "schema only"],
                    ]),
                );
                out(
                    `\nA side-by-side copy for inspection; the project itself is untouched. Supabase branches start from the project's current data, not from a point in time${incident ? ` (the incident at ${incident.toISOString()} is recorded in the audit record)` : ""}: to see the state before the incident, restore db from the vault into the branch.\n`,
                );
            }
            return EXIT.ok;
        },
        ctx.log,
    );
}
