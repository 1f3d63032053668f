// `audit`: read the audit log the operator commands write (audit/{env}/…): who did what, when, why,
// to which target, with which result. Each record is read at its first (locked) version
// (vault/audit-log.ts); an action with a "started" record and no finished one shows as "started
// (never finished)", and a record someone put a new version over is flagged.
import { EXIT, type AuditRecord, type ExitCode } from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { timeFlag, type OperatorOptions } from "../../cli/operator";
import { out, outJson, renderTable } from "../../cli/output";
import { readAuditLog, type AuditEntry } from "../../vault/audit-log";

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

/** The result column: a started record alone never finished; an overwritten one says so. */
function resultOf(e: AuditEntry): string {
    const r = e.finished ? e.record.result : "started (never finished)";
    return e.overwritten.length ? `${r}; TAMPERED: ${e.overwritten.length} record(s) overwritten, first version shown` : r;
}

export async function listAuditRecords(ctx: CommandContext, opts: AuditListOptions, since: Date | undefined): Promise<ExitCode> {
    const log = await readAuditLog(ctx.s3, ctx.bucket, ctx.config.env);
    const keep = new Set(selectRecords(log.entries.map((e) => e.record), opts, since));
    const entries = log.entries.filter((e) => keep.has(e.record));
    if (log.note) ctx.log.warn({}, log.note);
    const tampered = entries.filter((e) => e.overwritten.length);
    if (tampered.length) ctx.log.error({ events: tampered.map((e) => e.eventId) }, "audit records were overwritten: the first (locked) versions are shown");
    if (opts.json)
        outJson({
            env: ctx.config.env,
            read: log.read,
            records: entries.map((e) => e.record),
            unfinished: entries.filter((e) => !e.finished).map((e) => e.eventId),
            overwritten: tampered.flatMap((e) => e.overwritten),
        });
    else if (!entries.length) out(`no audit records for ${ctx.config.env}${since ? ` since ${since.toISOString()}` : ""}\n`);
    else
        out(
            renderTable(
                ["started", "action", "actor", "claimed", "result", "run", "target", "reason", "seconds"],
                entries.map((e) => [e.record.startedAt, e.record.action, e.record.actor, e.record.actorClaim ?? null, resultOf(e), e.record.runId, e.record.target, e.record.reason, e.record.durations.totalSeconds?.toFixed(1)]),
            ),
        );
    return EXIT.ok;
}
