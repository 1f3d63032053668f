// `incident start | end | show`: the runbooks' first step, "freeze writes, record the time".
// start: refuse if one is open → (--freeze) NOLOGIN for the service roles, sessions ended → (--dump) a
// forensic dump Job from the dump CronJob → the record. end: LOGIN back for what start froze → the record.
// Both are audit records (create-only, locked): the incident time cannot be edited afterwards.
import { execFile } from "node:child_process";
import { EXIT, type ExitCode } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { startAudit, type OperatorOptions } from "../../cli/operator";
import { out, outJson, renderPairs } from "../../cli/output";
import { requireSecret } from "../../runtime/context";
import { errorMessage } from "../../runtime/errors";
import { freezeRoles, thawRoles, type FreezeResult } from "../../postgres/freeze";
import { audited, Refusal } from "../../vault/audit";
import { INCIDENT_END, INCIDENT_START, loadOpenIncident, type Incident } from "../../vault/incidents";
import { pgTlsPolicy, securePgUrl } from "../../postgres/tls";

export interface StartOptions extends OperatorOptions {
    at?: string;
    freeze?: boolean;
    yes?: boolean;
    roles?: string;
    dump?: boolean;
}

/** What start will do, from flags checked before anything runs. */
export interface StartPlan {
    incidentTime: Date;
    freezeRoles: string[] | null;
    dump: boolean;
}

export async function startIncident(ctx: CommandContext, opts: StartOptions, plan: StartPlan): Promise<ExitCode> {
    const trail = startAudit(ctx, opts, INCIDENT_START, `supabase:${ctx.config.supabase.projectRef}`, {
        incidentTime: plan.incidentTime.toISOString(),
        freeze: plan.freezeRoles,
        dump: plan.dump,
    });
    return audited(
        trail,
        async () => {
            const open = await loadOpenIncident(ctx.s3, ctx.bucket, ctx.config.env);
            if (open) throw new Refusal(`incident ${open.eventId} is open since ${open.incidentTime}: end it first (incident end)`);
            const frozen = plan.freezeRoles ? await trail.time("freeze", () => freeze(ctx, plan.freezeRoles!)) : null;
            if (frozen) trail.addOptions({ frozen: frozen.roles, terminatedSessions: frozen.terminated, survivingSessions: frozen.survivors });
            const job = plan.dump ? await trail.time("dump", () => forensicDump(ctx, trail.eventId)) : null;
            if (job) trail.addOptions(job.name ? { forensicDumpJob: job.name } : { forensicDumpError: job.error });
            report(opts, { eventId: trail.eventId, incidentTime: plan.incidentTime.toISOString(), frozen, job });
            return EXIT.ok;
        },
        ctx.log,
    );
}

async function freeze(ctx: CommandContext, roles: string[]): Promise<FreezeResult> {
    const r = await freezeRoles(sourceUrl(ctx), roles);
    if (r.roles.length === 0) throw new Refusal(`none of ${roles.join(", ")} exists in the database: nothing frozen (name the roles your services log in as with --roles)`);
    ctx.log.warn({ roles: r.roles.map((f) => f.role), missing: r.missing, terminated: r.terminated, survivors: r.survivors }, "roles frozen (NOLOGIN)");
    return r;
}

/**
 * A Job from the dump CronJob, so the forensic dump runs as the writer (the operator may not write dumps).
 * A failure here does not undo the freeze: it is reported and recorded, and the incident stays open.
 */
function forensicDump(ctx: CommandContext, eventId: string): Promise<{ name: string | null; error?: string }> {
    const name = `dump-incident-${eventId.slice(0, 15).toLowerCase().replace(/[^a-z0-9-]/g, "-")}`;
    const args = ["-n", ctx.config.kubernetes.namespace, "create", "job", "--from=cronjob/dump", name];
    // kubectl gets the kubeconfig and PATH, none of the job's secrets.
    const env = { PATH: ctx.env.PATH ?? "/usr/bin:/bin", HOME: ctx.env.HOME ?? "/tmp", ...(ctx.env.KUBECONFIG ? { KUBECONFIG: ctx.env.KUBECONFIG } : {}) };
    return new Promise((resolve) => {
        execFile("kubectl", args, { env, timeout: 60_000 }, (err, _stdout, stderr) => {
            if (!err) return resolve({ name });
            const error = `kubectl ${args.join(" ")}: ${(stderr || errorMessage(err)).trim().split("\n")[0]}`;
            ctx.log.error({ err: error }, "could not start the forensic dump; run it by hand");
            resolve({ name: null, error });
        });
    });
}

function report(opts: StartOptions, r: { eventId: string; incidentTime: string; frozen: FreezeResult | null; job: { name: string | null; error?: string } | null }): void {
    if (opts.json) return outJson(r);
    const pairs: Array<[string, string]> = [
        ["incident", r.eventId],
        ["time", r.incidentTime],
    ];
    if (r.frozen) {
        pairs.push(["frozen (NOLOGIN)", r.frozen.roles.map((f) => f.role).join(", ")]);
        if (r.frozen.missing.length) pairs.push(["not in this database", r.frozen.missing.join(", ")]);
        pairs.push(["sessions ended", `${r.frozen.terminated}${r.frozen.survivors ? `, ${r.frozen.survivors} STILL OPEN (end them by hand)` : ""}`]);
    }
    if (r.job) pairs.push(["forensic dump", r.job.name ? `Job ${r.job.name}` : `NOT started: ${r.job.error}`]);
    out(renderPairs(pairs));
    out("\n`restore pitr --before-incident` uses this time; `incident end` gives the frozen roles LOGIN back.\n");
}

export async function endIncident(ctx: CommandContext, opts: OperatorOptions): Promise<ExitCode> {
    const trail = startAudit(ctx, opts, INCIDENT_END, `supabase:${ctx.config.supabase.projectRef}`, {});
    return audited(
        trail,
        async () => {
            const open = await loadOpenIncident(ctx.s3, ctx.bucket, ctx.config.env);
            if (!open) throw new Refusal(`no open incident for env ${ctx.config.env}`);
            trail.addOptions({ incident: open.eventId, incidentTime: open.incidentTime });
            const thawed = open.frozen.length ? await trail.time("thaw", () => thawRoles(sourceUrl(ctx), open.frozen)) : [];
            trail.addOptions({ thawed });
            if (opts.json) outJson({ eventId: trail.eventId, incident: open.eventId, thawed });
            else out(renderPairs([["incident ended", open.eventId], ["LOGIN back", thawed.join(", ") || "-"]]));
            return EXIT.ok;
        },
        ctx.log,
    );
}

export async function showIncident(ctx: CommandContext, opts: { json?: boolean }): Promise<ExitCode> {
    const open: Incident | undefined = await loadOpenIncident(ctx.s3, ctx.bucket, ctx.config.env);
    if (opts.json) outJson({ open: open ?? null });
    else if (!open) out(`no open incident for env ${ctx.config.env}\n`);
    else
        out(
            renderPairs([
                ["open incident", open.eventId],
                ["time", open.incidentTime],
                ["by", `${open.actor}${open.reason ? ` (${open.reason})` : ""}`],
                ["frozen", open.frozen.map((f) => f.role).join(", ") || "-"],
                ["forensic dump", open.forensicDumpJob ?? "-"],
            ]),
        );
    return EXIT.ok;
}

/** DATABASE_URL with TLS per the policy (verify-full to a non-loopback host: docs/security.md "Network to Postgres"). */
function sourceUrl(ctx: CommandContext): string {
    return securePgUrl(requireSecret(ctx, "databaseUrl"), pgTlsPolicy(ctx.config, ctx.env), ctx.log, "DATABASE_URL");
}
