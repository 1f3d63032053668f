// `supabase-backups gc`: delete storage blobs no retained run references (engine.ts, plan.ts).
// Flags → the command context → runGc.
import type { Command } from "commander";
import { action, commandContext, withCommonOptions } from "../../cli/command";
import { checkGcFlags, runGc, type GcOptions } from "./engine";

export function register(program: Command): void {
    withCommonOptions(
        program
            .command("gc")
            .summary("delete storage blobs no retained run references")
            .description(
                "Deletes content-addressed storage blobs (storage/<env>/blobs/) that no existing run manifest references " +
                    "and that are older than the grace period. Database dumps are not touched: lifecycle rules expire them by tier. " +
                    "Object Lock still protects every blob until its retain-until. With an Azure archive configured (archive section, " +
                    "azure.enabled), the archive's copies of the blobs are collected by the same rules: kept while any storage manifest " +
                    "in the archive or the vault names them, while younger than the grace period, and while their immutability policy " +
                    "lasts (a delete Azure refuses counts as kept); an archive manifest that cannot be read keeps every archive blob; " +
                    "an Azure failure exits 3 (degraded) and leaves the vault's pass as it was. Every run (dry runs too) writes an " +
                    "audit record (audit/<env>/…) before deleting anything, and its result after.",
            ),
    )
        .option("--dry-run", "list what would be deleted (vault and archive), delete nothing")
        .option("--actor <who>", "who you say you are, recorded beside your cloud identity (which is the actor); default $SUPABASE_BACKUPS_ACTOR, $USER")
        .option("--reason <text>", "why, for the audit record (optional: gc runs on a schedule)")
        .option("--grace-days <n>", "keep unreferenced blobs younger than this (a run in progress has not written its manifest yet)", "2")
        .action(
            action("gc", (opts: GcOptions) => {
                const graceDays = checkGcFlags(opts);
                return runGc(commandContext(opts, "gc"), opts, graceDays);
            }),
        );
}
