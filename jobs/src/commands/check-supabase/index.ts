// `check-supabase`: Supabase's own backups, seen from outside (engine.ts). Flags → the command context →
// runCheckSupabase.
import type { Command } from "commander";
import { action, commandContext, withCommonOptions } from "../../cli/command";
import { runCheckSupabase, type CheckSupabaseOptions } from "./engine";

export function register(program: Command): void {
    withCommonOptions(
        program
            .command("check-supabase")
            .description(
                "Check Supabase's own backups through the Management API: alert when the newest is older than " +
                    "supabase.backupMaxAgeHours or PITR is off where supabase.pitr.required. Exit 0 healthy, 6 unhealthy, 1 API error.",
            ),
    )
        .option("--no-metrics", "do not push metrics even when alerts.pushgatewayUrl is set")
        .addHelpText("after", "\nNeeds SUPABASE_ACCESS_TOKEN (Management API token). Reads GET /v1/projects/{ref}/database/backups and, when PITR is required, GET /v1/projects/{ref}/billing/addons.\n")
        .action(action("check-supabase", (opts: CheckSupabaseOptions) => runCheckSupabase(commandContext(opts, "check-supabase"), opts)));
}
