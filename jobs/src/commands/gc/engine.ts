// `supabase-backups gc`: deletes storage blobs that no retained run manifest references, with the gc
// identity (the only one allowed to delete). Object Lock still applies: a delete of a blob whose
// retain-until has not passed only adds a delete marker, and the locked version stays until it may go
// (the bucket's noncurrent-version lifecycle rule removes it then). Any doubt aborts without deleting.
// The decision itself is the pure plan in plan.ts.
import { DeleteObjectCommand, DeleteObjectsCommand } from "@aws-sdk/client-s3";
import {
    EXIT,
    type ExitCode,
    parseVaultKey,
    prefixes,
    type StorageManifest,
    type StorageShardManifest,
} from "@supabase-backups/contracts";
import type { CommandContext } from "../../cli/command";
import { errorMessage, httpStatusOf, JobFailure, UsageError } from "../../runtime/errors";
import { pushRunMetrics } from "../../runtime/metrics";
import { formatBytes } from "../../runtime/progress";
import { listCompleteRuns, loadManifest } from "../../vault/runs";
import { getJson, listAll } from "../../vault/s3";
import { planGc, type BlobListing, type GcPlan } from "./plan";

export interface GcOptions {
    config?: string;
    json?: boolean;
    dryRun?: boolean;
    graceDays: string;
}

/** The flags, checked before anything runs: --grace-days (a number ≥ 1). */
export function checkGcFlags(opts: GcOptions): number {
    const graceDays = Number(opts.graceDays);
    if (!Number.isFinite(graceDays) || graceDays < 1) throw new UsageError(`--grace-days must be a number ≥ 1, got "${opts.graceDays}"`);
    return graceDays;
}

export async function runGc(ctx: CommandContext, opts: GcOptions, graceDays: number): Promise<ExitCode> {
    const { config, log } = ctx;
    const env = config.env;
    const started = Date.now();
    try {
        const { runs, referenced } = await referencedBlobs(ctx);
        const blobs = await listBlobs(ctx);
        const plan = planGc(blobs, referenced, new Date(), graceDays);
        log.info(
            { runs, blobs: blobs.length, referenced: plan.referenced, tooYoung: plan.tooYoung, toDelete: plan.delete.length, bytes: plan.bytesReclaimed },
            "gc plan",
        );
        const { deleted, failures } = opts.dryRun ? { deleted: 0, failures: [] } : await deleteBlobs(ctx, plan);
        const summary = {
            env,
            runs,
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
                `gc ${env}: ${blobs.length} blobs, ${plan.referenced} referenced by ${runs} runs, ${plan.tooYoung} unreferenced but younger than ${graceDays} d, ` +
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
        ctx.s3.destroy();
    }
}

/** Every complete run's manifest, and the shard manifests of runs still in progress: the blobs they name. */
async function referencedBlobs(ctx: CommandContext): Promise<{ runs: number; referenced: Set<string> }> {
    const { s3, bucket } = ctx;
    const env = ctx.config.env;
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
    return { runs: runs.length, referenced };
}

/** The content-addressed blobs in the vault, with size and age. */
async function listBlobs(ctx: CommandContext): Promise<BlobListing[]> {
    const blobs: BlobListing[] = [];
    for (const o of await listAll(ctx.s3, ctx.bucket, prefixes.storageBlobs(ctx.config.env))) {
        const p = parseVaultKey(o.key);
        if (p?.kind === "storage-blob") blobs.push({ key: o.key, sha256: p.sha256, size: o.size, lastModified: o.lastModified });
    }
    return blobs;
}

/** Delete the plan's blobs, 1 000 a request; failures per key. */
async function deleteBlobs(ctx: CommandContext, plan: GcPlan): Promise<{ deleted: number; failures: string[] }> {
    let deleted = 0;
    const failures: string[] = [];
    for (let i = 0; i < plan.delete.length; i += 1000) {
        const batch = plan.delete.slice(i, i + 1000);
        const errors = await deleteBatch(ctx, batch.map((b) => b.key));
        failures.push(...errors);
        deleted += batch.length - errors.length;
    }
    return { deleted, failures };
}

/**
 * One DeleteObjects call; where the store refuses the batch as a whole (Ceph RGW checks it against the
 * bucket, which gc's policy does not name), one DeleteObject per key — the same deletes, each judged
 * against its own key. Returns one line per key that was not deleted.
 */
async function deleteBatch(ctx: CommandContext, keys: string[]): Promise<string[]> {
    try {
        const r = await ctx.s3.send(new DeleteObjectsCommand({ Bucket: ctx.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }));
        return (r.Errors ?? []).map((e) => `${e.Key}: ${e.Code ?? ""} ${e.Message ?? ""}`.trim());
    } catch (e) {
        if (httpStatusOf(e) !== 403) throw e;
        ctx.log.info({ keys: keys.length }, "the batch delete was refused as a whole: deleting one key at a time");
        const failures: string[] = [];
        for (const Key of keys) {
            await ctx.s3.send(new DeleteObjectCommand({ Bucket: ctx.bucket, Key })).catch((err) => failures.push(`${Key}: ${errorMessage(err)}`));
        }
        return failures;
    }
}
