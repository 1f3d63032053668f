// `audit`: read the audit log the operator commands write (audit/{env}/…): who did what, when, why,
// to which target, with which result.
import type { Command } from "commander";
import { EXIT, type ExitCode } from "@supabase-backups/contracts";
import { listAudit } from "../../vault/audit";
import { action } from "../../cli/command";
import { operatorContext, type OperatorOptions } from "../../cli/operator";
import { out, outJson, renderTable } from "../../cli/output";
import { parseInstant } from "../../runtime/time";

interface AuditListOptions extends OperatorOptions {
    since?: string;
    action?: string;
    result?: string;
}

export function register(program: Command): void {
    program
        .command("audit")
        .description("List the audit records of operator actions (restores, PITR requests, branches) for one environment, oldest first.")
        .option("-c, --config <file>", "job config JSON; default $SUPABASE_BACKUPS_CONFIG")
        .option("--env <env>", "environment; must match the config's env")
        .option("--json", "machine-readable output on stdout")
        .option("--since <time>", "only records started at or after this time (ISO 8601 or unix seconds)")
        .option("--action <name>", "only this action (restore-db, restore-storage, restore-pitr, restore-branch)")
        .option("--result <result>", "only this result (succeeded, failed, refused)")
        .action(
            action("audit", async (opts: AuditListOptions): Promise<ExitCode> => {
                const since = opts.since ? parseInstant(opts.since, "--since") : undefined;
                const ctx = operatorContext(opts, "audit");
                const records = (await listAudit(ctx.s3, ctx.bucket, ctx.config.env)).filter(
                    (r) => (!since || new Date(r.startedAt) >= since) && (!opts.action || r.action === opts.action) && (!opts.result || r.result === opts.result),
                );
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
            }),
        );
}
