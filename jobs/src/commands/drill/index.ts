// `drill`: a scheduled (or ad-hoc) restore rehearsal with a recovery-time target. Flags → options → the
// engine in engine.ts.
import { Command } from "commander";
import { DRILL_KINDS } from "@supabase-backups/contracts";
import { action, commandContext } from "../../cli/command";
import { withOperatorOptions } from "../../cli/operator";
import { checkDrillFlags, drill, type DrillOptions } from "./engine";

export function register(program: Command): void {
    withOperatorOptions(
        program
            .command("drill")
            .summary("rehearse a restore into a throw-away target, time it against the RTO target, record it in the vault")
            .description(
                "Restore the newest complete run with the real `restore` commands into a throw-away target — storage: every bucket into " +
                    "restored-<bucket>-drill-<stamp> buckets; table: tables into a scratch database; full: the whole dump into a scratch database — " +
                    "compare it with the manifest (object counts and sha256, row counts), measure the time to restored-and-checked against " +
                    "drills.rtoMinutes, remove the target (also on failure), and write a drill record under drill/<env>/<kind>/.",
            ),
    )
        .requiredOption("--kind <kind>", `what to rehearse: ${DRILL_KINDS.join(", ")}`)
        .option("--run <id>", "drill this run instead of the newest complete one")
        .addHelpText(
            "after",
            "\nExit codes: 0 passed, 6 restored and checked but slower than the RTO target, 1 failed (the record says which step).\n" +
                "Needs AGE_IDENTITY for encrypted dumps, SUPABASE_BACKUPS_DRILL_PASSWORD for drills.scratchDatabaseUrl, SUPABASE_SERVICE_ROLE_KEY for the storage drill,\n" +
                "DRILL_SIGNING_KEY (Ed25519 PKCS#8 PEM) to sign the record where vault.drillRecordSigning has no kmsKeyArn.\n" +
                "Example: drill --env prod --kind table --reason 'monthly table drill'\n",
        )
        .action(
            action("drill", (opts: DrillOptions) => {
                const kind = checkDrillFlags(opts);
                return drill(commandContext(opts, "drill"), opts, kind);
            }),
        );
}
