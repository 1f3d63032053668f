// The shape every command shares: parse flags, build the context, run, turn the outcome into one line and
// an exit code.
import { Command } from "commander";
import type { S3Client } from "@aws-sdk/client-s3";
import { EXIT, type ExitCode } from "@supabase-backups/contracts";
import { createContext, type JobContext } from "../runtime/context";
import { JobFailure, UsageError, errorMessage } from "../runtime/errors";
import { redact } from "../runtime/log";
import { createVaultClient, type VaultClientOptions } from "../vault/s3";

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

/** The flags the context is built from: --config everywhere, --env where the command has it. */
export interface CommandOptions {
    config?: string;
    json?: boolean;
    env?: string;
}

/** What every command runs with: the job context and the vault. */
export interface CommandContext extends JobContext {
    s3: S3Client;
    bucket: string;
}

/**
 * Every command's context, built one way: the job config (--config or $SUPABASE_BACKUPS_CONFIG), checked
 * against --env when the command has that flag, the secrets, a logger, and the vault client (`vault`:
 * per-command client settings, e.g. dump's stall timeouts; `env`: the environment the job reads, verify
 * passes one without the source's secrets). Builds nothing that talks to the network yet.
 */
export function commandContext(opts: CommandOptions, command: string, vault: VaultClientOptions = {}, env: NodeJS.ProcessEnv = process.env): CommandContext {
    const ctx = contextWithoutVault(opts, command, env);
    return { ...ctx, s3: createVaultClient(ctx.config.vault, vault), bucket: ctx.config.vault.bucket };
}

/** The same context without the S3 vault client: for commands that read the Azure archive alone. */
export function contextWithoutVault(opts: CommandOptions, command: string, env: NodeJS.ProcessEnv = process.env): JobContext {
    const ctx = createContext({ config: opts.config, command }, env);
    if (opts.env && opts.env !== ctx.config.env) {
        throw new UsageError(`--env ${opts.env} does not match the config's env "${ctx.config.env}" (${ctx.configSource}): wrong config file?`);
    }
    return ctx;
}
