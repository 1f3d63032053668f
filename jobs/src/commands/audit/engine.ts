// `audit`: read the audit log the operator commands write (audit/{env}/…): who did what, when, why,
// to which target, with which result.
import { EXIT, type AuditRecord, type ExitCode } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { timeFlag, type OperatorOptions } from "../../cli/operator";
import { out, outJson, renderTable } from "../../cli/output";
import { listAudit } from "../../vault/audit";

export interface AuditListOptions extends OperatorOptions {
    since?: string;
    action?: string;
    result?: string;
}

/** The flags, checked before anything runs: --since (a usage error when it is not a time). */
export function checkAuditFlags(opts: AuditListOptions): Date | undefined {
    return opts.since ? timeFlag("--since", opts.since) : undefined;
}

/** The filter: started at or after --since, this --action, this --result. */
export function selectRecords(records: AuditRecord[], opts: AuditListOptions, since: Date | undefined): AuditRecord[] {
    return records.filter((r) => (!since || new Date(r.startedAt) >= since) && (!opts.action || r.action === opts.action) && (!opts.result || r.result === opts.result));
}

export async function listAuditRecords(ctx: CommandContext, opts: AuditListOptions, since: Date | undefined): Promise<ExitCode> {
    const records = selectRecords(await listAudit(ctx.s3, ctx.bucket, ctx.config.env), opts, since);
    if (opts.json) outJson({ env: ctx.config.env, records });
    else if (!records.length) out(`no audit records for ${ctx.config.env}${since ? ` since ${since.toISOString()}` : ""}\n`);
    else
        out(
            renderTable(
                ["started", "action", "actor", "result", "run", "target", "reason", "seconds"],
                records.map((r) => [r.startedAt, r.action, r.actor, r.result, r.runId, r.target, r.reason, r.durations.totalSeconds?.toFixed(1)]),
            ),
        );
    return EXIT.ok;
}
