// `restore config`: the stack file a run was made with, for rebuilding the stack after losing it. The
// dump's manifest carries the job config (no secrets: they reach the jobs only as environment variables)
// and the names of the secrets it needed; this prints them as a Pulumi.<env>.yaml and the
// `pulumi config set --secret` lines to run. Reads the vault only.
import { writeFileSync } from "node:fs";
import { stackFileFromSnapshot, type DbManifest } from "@supabase-backups/contracts";
import type { CommandContext, CommandOptions } from "../../cli/command";
import { out, outJson } from "../../cli/output";
import { JobFailure, UsageError } from "../../runtime/errors";
import { chooseRun } from "../../vault/run-choice";
import { recordTrust } from "../../vault/record-signing";

export interface RestoreConfigOptions extends CommandOptions {
    run?: string;
    at?: string;
    out?: string;
}

export async function restoreConfig(ctx: CommandContext, opts: RestoreConfigOptions): Promise<void> {
    const chosen = await chooseRun<DbManifest>(ctx.s3, ctx.bucket, ctx.config.env, "db", { run: opts.run, at: opts.at, trust: recordTrust(ctx.config.vault) });
    const manifest = chosen.loaded.manifest;
    if (!manifest.config) throw new JobFailure(`run ${manifest.runId} has no config snapshot (it was written by a version before 0.2); pick a newer run`);
    ctx.log.info({ run: manifest.runId, note: chosen.note }, "config snapshot found");
    if (opts.json) return outJson({ runId: manifest.runId, note: chosen.note, config: manifest.config });
    const text = stackFileFromSnapshot(manifest.config, ctx.config.env);
    if (!opts.out) return out(text);
    try {
        writeFileSync(opts.out, text, { flag: "wx" });
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new UsageError(`${opts.out} exists; restore config never overwrites a file`);
        throw e;
    }
    out(`wrote ${opts.out} from run ${manifest.runId} (${chosen.note}); set the secrets it lists before pulumi up\n`);
}
