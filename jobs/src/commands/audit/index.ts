// `audit`: list the audit records of operator actions (engine.ts). Flags → the command context → the list.
import type { Command } from "commander";
import { action, commandContext } from "../../cli/command";
import { checkAuditFlags, listAuditRecords, type AuditListOptions } from "./engine";

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
            action("audit", (opts: AuditListOptions) => {
                const since = checkAuditFlags(opts);
                return listAuditRecords(commandContext(opts, "audit"), opts, since);
            }),
        );
}
