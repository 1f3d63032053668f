// `status`: the vault's inventory for one environment (engine.ts), or with --from archive the Azure
// archive's (archive.ts). Flags → the command context → runStatus / runArchiveStatus.
import type { Command } from "commander";
import { action, commandContext, contextWithoutVault } from "../../cli/command";
import { choiceFlag, intFlag } from "../../cli/flags";
import { runStatus, type StatusOptions } from "./engine";
import { runArchiveStatus } from "./archive";

export function register(program: Command): void {
    program
        .command("status")
        .description(
            "Inventory of the vault for one environment: runs per tier with sizes, retain-until and verification; newest complete and " +
                "verified run; RPO against alerts.rpoHours; hash chains; storage runs; Supabase's own backups and PITR. " +
                "Exit 0 healthy, 6 when the RPO is missed or a hash chain is broken.",
        )
        .option("-c, --config <file>", "job config JSON; default $SUPABASE_BACKUPS_CONFIG")
        .option("--env <env>", "environment; must match the config's env")
        .option("--json", "machine-readable output on stdout")
        .option("--all", "list every database run (default: the newest --runs)")
        .option("--runs <n>", "how many database runs to list", intFlag(1), 10)
        .option("--days <n>", "days of the run timeline (UTC, newest last)", intFlag(1), 14)
        .option("--timeline", "print only the run timeline, the tiers held, RPO and RTO (and the verdict)")
        .option("--no-supabase", "do not ask the Management API (SUPABASE_ACCESS_TOKEN) about Supabase's own backups")
        .option(
            "--from <vault|archive>",
            "read the runs from the S3 vault (default) or the Azure archive alone (no AWS credentials needed; verification and drill records are then unknown)",
            choiceFlag(["vault", "archive"] as const),
        )
        .action(
            action("status", (opts: StatusOptions) =>
                opts.from === "archive" ? runArchiveStatus(contextWithoutVault(opts, "status"), opts) : runStatus(commandContext(opts, "status"), opts),
            ),
        );
}
