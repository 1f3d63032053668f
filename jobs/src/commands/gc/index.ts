// `supabase-backups gc`: deletes storage blobs that no retained run manifest references, with the gc
// identity (the only one allowed to delete). Object Lock still applies: a delete of a blob whose
// retain-until has not passed only adds a delete marker, and the locked version stays until it may go
// (the bucket's noncurrent-version lifecycle rule removes it then). Any doubt aborts without deleting.
import { DeleteObjectsCommand } from "@aws-sdk/client-s3";
import type { Command } from "commander";
import {
    EXIT,
    type ExitCode,
    parseVaultKey,
    prefixes,
    type StorageManifest,
    type StorageShardManifest,
} from "@supabase-backups/contracts";
import { action, withCommonOptions } from "../../cli/command";
import { createContext } from "../../runtime/context";
import { errorMessage, JobFailure, UsageError } from "../../runtime/errors";
import { planGc, type BlobListing } from "./plan";
import { pushRunMetrics } from "../../runtime/metrics";
import { formatBytes } from "../../runtime/progress";
import { listCompleteRuns, loadManifest } from "../../vault/runs";
import { createVaultClient, getJson, listAll } from "../../vault/s3";

interface GcOptions {
    config?: string;
    json?: boolean;
    dryRun?: boolean;
    graceDays: string;
}

export function register(program: Command): void {
    withCommonOptions(
        program
            .command("gc")
            .summary("delete storage blobs no retained run references")
            .description(
                "Deletes content-addressed storage blobs (storage/<env>/blobs/) that no existing run manifest references " +
                    "and that are older than the grace period. Database dumps are not touched: lifecycle rules expire them by tier. " +
                    "Object Lock still protects every blob until its retain-until.",
            ),
    )
        .option("--dry-run", "list what would be deleted, delete nothing")
        .option("--grace-days <n>", "keep unreferenced blobs younger than this (a run in progress has not written its manifest yet)", "2")
        .action(action("gc", (opts: GcOptions) => gc(opts)));
}

async function gc(opts: GcOptions): Promise<ExitCode> {
    const graceDays = Number(opts.graceDays);
    if (!Number.isFinite(graceDays) || graceDays < 1) throw new UsageError(`--grace-days must be a number ≥ 1, got "${opts.graceDays}"`);
    const ctx = createContext({ config: opts.config, command: "gc" });
    const { config, log } = ctx;
    const env = config.env;
    const s3 = createVaultClient(config.vault);
    const bucket = config.vault.bucket;
    const started = Date.now();
    try {
        // Every complete run's manifest, and the shard manifests of runs still in progress.
        const referenced = new Set<string>();
        const runs = await listCompleteRuns(s3, bucket, env, "storage");
        for (const ref of runs) {
            const { manifest } = await loadManifest<StorageManifest>(s3, bucket, ref);
            if (manifest.kind !== "storage" || !Array.isArray(manifest.objects)) {
                throw new JobFailure(`${ref.manifestKey} is not a storage manifest: refusing to collect on partial knowledge`);
            }
            for (const o of manifest.objects) referenced.add(o.sha256);
        }
        const shardKeys = (await listAll(s3, bucket, prefixes.storageRuns(env))).filter((o) => /\/shards\/[^/]+\.json$/.test(o.key));
        for (const o of shardKeys) {
            const { value } = await getJson<StorageShardManifest>(s3, bucket, o.key);
            for (const obj of value.objects ?? []) referenced.add(obj.sha256);
        }
        const blobs: BlobListing[] = [];
        for (const o of await listAll(s3, bucket, prefixes.storageBlobs(env))) {
            const p = parseVaultKey(o.key);
            if (p?.kind === "storage-blob") blobs.push({ key: o.key, sha256: p.sha256, size: o.size, lastModified: o.lastModified });
        }
        const plan = planGc(blobs, referenced, new Date(), graceDays);
        log.info(
            { runs: runs.length, blobs: blobs.length, referenced: plan.referenced, tooYoung: plan.tooYoung, toDelete: plan.delete.length, bytes: plan.bytesReclaimed },
            "gc plan",
        );
        let deleted = 0;
        const failures: string[] = [];
        if (!opts.dryRun) {
            for (let i = 0; i < plan.delete.length; i += 1000) {
                const batch = plan.delete.slice(i, i + 1000);
                const r = await s3.send(
                    new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((b) => ({ Key: b.key })), Quiet: true } }),
                );
                for (const e of r.Errors ?? []) failures.push(`${e.Key}: ${e.Code ?? ""} ${e.Message ?? ""}`.trim());
                deleted += batch.length - (r.Errors?.length ?? 0);
            }
        }
        const summary = {
            env,
            runs: runs.length,
            blobs: blobs.length,
            referenced: plan.referenced,
            keptTooYoung: plan.tooYoung,
            candidates: plan.delete.length,
            deleted,
            failed: failures.length,
            bytesReclaimed: plan.bytesReclaimed,
            dryRun: !!opts.dryRun,
        };
        if (opts.json) process.stdout.write(JSON.stringify({ ...summary, keys: plan.delete.map((b) => b.key) }, null, 2) + "\n");
        else
            process.stdout.write(
                `gc ${env}: ${blobs.length} blobs, ${plan.referenced} referenced by ${runs.length} runs, ${plan.tooYoung} unreferenced but younger than ${graceDays} d, ` +
                    `${opts.dryRun ? `${plan.delete.length} would be deleted` : `${deleted} deleted`} (${formatBytes(plan.bytesReclaimed)})\n`,
            );
        for (const f of failures) log.error({ failure: f }, "delete failed");
        await pushRunMetrics(config.alerts.pushgatewayUrl, env, "gc", { result: failures.length ? "partial" : "success", durationSeconds: (Date.now() - started) / 1000, bytes: plan.bytesReclaimed }, log);
        return failures.length ? EXIT.partial : EXIT.ok;
    } catch (e) {
        await pushRunMetrics(config.alerts.pushgatewayUrl, env, "gc", { result: "failure", durationSeconds: (Date.now() - started) / 1000 }, log);
        if (e instanceof JobFailure) throw e;
        throw new JobFailure(`gc failed, nothing more deleted: ${errorMessage(e)}`);
    } finally {
        s3.destroy();
    }
}
