// `restore config`: the stack file a run was made with, for rebuilding the stack after losing it. The
// dump's manifest carries the job config (no secrets: they reach the jobs only as environment variables)
// and the names of the secrets it needed; this prints them as a Pulumi.<env>.yaml and the
// `pulumi config set --secret` lines to run. From the vault, or (--from archive) from the Azure archive
// alone, the run chosen and its manifest checked as `restore db --from archive` does.
import { writeFileSync } from "node:fs";
import { stackFileFromSnapshot, type DbManifest } from "@supabase-backups/contracts";
import type { CommandContext, CommandOptions } from "../../cli/command";
import { out, outJson } from "../../cli/output";
import type { ThawFlags } from "../../cli/thaw";
import type { JobContext } from "../../runtime/context";
import { JobFailure, UsageError } from "../../runtime/errors";
import { createArchiveClient } from "../../vault/archive";
import { chooseRun, requireRunOrAt } from "../../vault/run-choice";
import { recordTrust } from "../../vault/record-signing";
import { chooseArchiveDbRun } from "./db-archive";

export interface RestoreConfigOptions extends CommandOptions, ThawFlags {
    run?: string;
    at?: string;
    out?: string;
    from?: "vault" | "archive";
}

/** From the vault: verified runs preferred. */
export async function restoreConfig(ctx: CommandContext, opts: RestoreConfigOptions): Promise<void> {
    const chosen = await chooseRun<DbManifest>(ctx.s3, ctx.bucket, ctx.config.env, "db", { run: opts.run, at: opts.at, trust: recordTrust(ctx.config.vault) });
    writeConfig(ctx, opts, chosen.loaded.manifest, chosen.note);
}

/** From the Azure archive alone (no AWS client, no AWS credential): the day the AWS account is lost. */
export async function restoreConfigFromArchive(ctx: JobContext, opts: RestoreConfigOptions): Promise<void> {
    requireRunOrAt(opts);
    const archive = ctx.config.archive;
    if (!archive) throw new UsageError("--from archive: the config has no archive (azure.enabled, and archive.accountUrl / archive.container in the job config)");
    const chosen = await chooseArchiveDbRun(ctx, await createArchiveClient(archive, ctx.env), opts);
    writeConfig(ctx, opts, chosen.loaded.manifest, chosen.note);
}

function writeConfig(ctx: JobContext, opts: RestoreConfigOptions, manifest: DbManifest, note: string): void {
    if (!manifest.config) throw new JobFailure(`run ${manifest.runId} has no config snapshot (it was written by a version before 0.2); pick a newer run`);
    ctx.log.info({ run: manifest.runId, note }, "config snapshot found");
    if (opts.json) return outJson({ runId: manifest.runId, note, config: manifest.config });
    const text = stackFileFromSnapshot(manifest.config, ctx.config.env);
    if (!opts.out) return out(text);
    try {
        writeFileSync(opts.out, text, { flag: "wx" });
    } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EEXIST") throw new UsageError(`${opts.out} exists; restore config never overwrites a file`);
        throw e;
    }
    out(`wrote ${opts.out} from run ${manifest.runId} (${note}); set the secrets it lists before pulumi up\n`);
}
