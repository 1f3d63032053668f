// The shape every command shares: parse flags, run, turn the outcome into one line and an exit code.
import { Command } from "commander";
import { EXIT, type ExitCode } from "@supabase-backups/contracts";
import { JobFailure, errorMessage } from "../runtime/errors";
import { redact } from "../runtime/log";

/**
 * Wrap a command's action: its resolved value is the exit code; a JobFailure prints one line
 * `supabase-backups <cmd>: <message>` (secrets scrubbed) and exits with its code.
 */
export function action<A extends unknown[]>(name: string, fn: (...args: A) => Promise<ExitCode | void>): (...args: A) => Promise<void> {
    return async (...args: A) => {
        let code: ExitCode;
        try {
            code = (await fn(...args)) ?? EXIT.ok;
        } catch (e) {
            code = e instanceof JobFailure ? e.exitCode : EXIT.failed;
            process.stderr.write(`supabase-backups ${name}: ${redact(errorMessage(e))}\n`);
        }
        process.exitCode = code;
    };
}

/** Options every command takes. */
export function withCommonOptions(cmd: Command): Command {
    return cmd
        .option("-c, --config <file>", "job config JSON (the CronJob's ConfigMap); default $SUPABASE_BACKUPS_CONFIG")
        .option("--json", "machine-readable output on stdout");
}
