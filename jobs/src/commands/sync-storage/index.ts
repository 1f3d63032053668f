// `supabase-backups sync-storage`: every configured Supabase Storage bucket into the vault, incremental
// and content-addressed. Flags → SyncOptions → engine.ts.
import { tmpdir } from "node:os";
import { Command, Option } from "commander";
import { EXIT, type StorageArchive } from "@supabase-backups/contracts";
import { action, commandContext, withCommonOptions } from "../../cli/command";
import { collect, intFlag } from "../../cli/flags";
import { formatBytes } from "../../runtime/progress";
import { S3_SOURCE_ENV } from "../../supabase/storage-source";
import { syncStorage } from "./engine";
import { MiB, RUN_ID_ENV, SYNC_DEFAULTS, type SyncResult } from "./run";
import { parseShard } from "./run-id";

interface Flags {
    config?: string;
    json?: boolean;
    bucket?: string[];
    shard?: string;
    merge?: boolean;
    runId?: string;
    concurrency?: number;
    retries?: number;
    retryBaseMs: number;
    stallSeconds: number;
    scratchDir: string;
    memoryThreshold: number;
    multipartThreshold: number;
}

export function register(program: Command): void {
    withCommonOptions(
        program
            .command("sync-storage")
            .summary("copy Supabase Storage buckets into the vault (incremental, content-addressed)")
            .description(
                "Copy every configured Supabase Storage bucket (default: all) into the vault: objects are listed from\n" +
                    "storage.objects over SQL ($DATABASE_URL), compared with the previous complete run, and new or changed\n" +
                    "ones are downloaded (storage.mode rest: Storage API with $SUPABASE_SERVICE_ROLE_KEY; s3: Storage S3\n" +
                    `protocol with $${S3_SOURCE_ENV.accessKeyId}/$${S3_SOURCE_ENV.secretAccessKey}, region $${S3_SOURCE_ENV.region}),\n` +
                    "hashed and stored once per content under storage/<env>/blobs/, locked per the run's tier. The run\n" +
                    "manifest is written last. With the Azure archive (azure.enabled, storage.archive) every blob and the\n" +
                    "manifest are also copied there, create-only and immutable; blobs already there are not sent again.\n\n" +
                    `Exit codes: 0 ok, ${EXIT.partial} partial (some objects failed, retried next run; or names that could address another\n` +
                    `object or path were left out, never retried; both listed in the manifest), ${EXIT.degraded} degraded (complete in the\n` +
                    `S3 vault, some of it not in the Azure archive: the next run copies it), 1 failed (no manifest), 2 usage or config error.`,
            )
            .addOption(new Option("-b, --bucket <name>", "only this bucket (repeatable); other configured buckets are carried over from the previous run").argParser(collect))
            .addOption(new Option("--shard <I/N>", "process shard I of N (hash of bucket/name); default $JOB_COMPLETION_INDEX of $JOB_COMPLETIONS"))
            .addOption(new Option("--merge", "only merge the run's shard manifests into the run manifest (needs --run-id)"))
            .addOption(new Option("--run-id <id>", `run id shared by all shards; default $${RUN_ID_ENV}, else derived from $JOB_NAME, else new`))
            .addOption(new Option("--concurrency <n>", "parallel transfers (default storage.concurrency)").argParser(intFlag(1)))
            .addOption(new Option("--retries <n>", "retries per object, with exponential backoff (default storage.retries)").argParser(intFlag(0)))
            .addOption(new Option("--retry-base-ms <ms>", "first retry's backoff ceiling; doubles per retry").default(SYNC_DEFAULTS.retryBaseMs).argParser(intFlag(0)))
            .addOption(new Option("--stall-seconds <s>", "abort and retry a download that sends no byte for this long").default(SYNC_DEFAULTS.stallSeconds).argParser(intFlag(1)))
            .addOption(new Option("--scratch-dir <dir>", "where objects above --memory-threshold are spooled (the pod's emptyDir)").default(tmpdir()))
            .addOption(new Option("--memory-threshold <bytes>", "objects up to this size are buffered in memory, larger ones spooled").default(SYNC_DEFAULTS.memoryThreshold).argParser(intFlag(0)))
            .addOption(
                new Option("--multipart-threshold <bytes>", "objects above this size are uploaded in parts (min(64 MiB, this size), at least 5 MiB), SHA256 per part")
                    .default(SYNC_DEFAULTS.multipartThreshold)
                    .argParser(intFlag(5 * MiB)),
            ),
    ).action(run);
}

const run = action("sync-storage", async (flags: Flags) => {
    const ctx = commandContext(flags, "sync-storage");
    const shard = parseShard(flags.shard, ctx.env, ctx.config.storage.shards);
    const r = await syncStorage(ctx, {
        buckets: flags.bucket,
        shard,
        mergeOnly: !!flags.merge,
        runId: flags.runId,
        concurrency: flags.concurrency,
        retries: flags.retries,
        retryBaseMs: flags.retryBaseMs,
        stallSeconds: flags.stallSeconds,
        scratchDir: flags.scratchDir,
        memoryThreshold: flags.memoryThreshold,
        multipartThreshold: flags.multipartThreshold,
    });
    process.stdout.write(flags.json ? JSON.stringify(summary(r)) + "\n" : report(r));
    return r.exitCode;
});

function summary(r: SyncResult) {
    return {
        runId: r.runId,
        manifest: r.manifestKey ?? null,
        shardManifest: r.shardManifestKey ?? null,
        tier: r.manifest?.tier ?? null,
        stats: r.stats,
        failed: r.failed,
        vanished: r.vanished,
        unsafe: r.unsafe,
        archive: (r.manifest ?? r.shardManifest)?.archive ?? null,
    };
}

function archiveLine(a: StorageArchive | undefined): string {
    if (!a) return "";
    return `azure archive (${a.container}): ${a.status}, ${a.copied} blob(s) copied${a.missing ? `, ${a.missing} entr${a.missing === 1 ? "y" : "ies"} not there yet (the next run copies them)` : ""}${a.error ? `: ${a.error}` : ""}\n`;
}

function report(r: SyncResult): string {
    const s = r.stats;
    return (
        `sync-storage ${r.runId}: ${s.listed} listed, ${s.copied} copied (${formatBytes(s.bytesUploaded)}), ${s.deduplicated} deduplicated, ` +
        `${s.skipped} unchanged, ${s.failed} failed${r.vanished.length ? `, ${r.vanished.length} vanished` : ""}${r.unsafe.length ? `, ${r.unsafe.length} NOT SYNCED (unsafe names)` : ""}\n` +
        (r.manifestKey ? `manifest: ${r.manifestKey}\n` : `shard manifest: ${r.shardManifestKey} (the last shard merges)\n`) +
        archiveLine((r.manifest ?? r.shardManifest)?.archive) +
        r.failed.map((f) => `failed: ${f.bucket}/${f.name}: ${f.error}\n`).join("") +
        r.unsafe.map((u) => `not synced (unsafe name, ${u.reason}): ${u.bucket}/${u.name}\n`).join("")
    );
}
