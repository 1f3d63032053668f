// The sync-storage run (docs/architecture.md "Vault layout"): every configured Supabase Storage bucket
// into the vault, incremental and content-addressed. Steps: resolve the run (id, previous run, tier) →
// sync this shard (shard.ts) → write the run manifest, or this shard's manifest and merge when it is the
// last one (merge.ts) → metrics and the result.
//
// Uploading first under a temporary key and copying it to the content address later would need a delete
// the writer identity does not have (and Object Lock would keep every temp object for the lock period),
// so nothing but final content-addressed blobs is ever written to the vault.
import type { S3Client } from "@aws-sdk/client-s3";
import {
    EXIT,
    METRICS,
    runIdTime,
    storageObjectListKey,
    storageShardManifestKey,
    storageShardObjectListKey,
    type StorageManifest,
    type StorageShardManifest,
} from "@supabase-backups/contracts";
import type { JobContext } from "../../runtime/context";
import { JobFailure, UsageError } from "../../runtime/errors";
import { pushRunMetrics } from "../../runtime/metrics";
import { listCompleteRuns, loadManifest } from "../../vault/runs";
import { getJson, putRecordOnce } from "../../vault/s3";
import type { CommandContext } from "../../cli/command";
import { listShardManifests } from "../../vault/storage-runs";
import { openVersion } from "../../vault/versions";
import { mergeRun, writeLinkedManifest } from "./merge";
import { afterNewest, isFreshRunId, resolveRunId } from "./run-id";
import { archiveEnabled, ArchiveCopy } from "./archive-copy";
import { LOCK_SLACK_MS, recordWrite, vaultOp, VaultError, type RunScope, type SyncOptions, type SyncResult } from "./run";
import { syncShard, type ShardOutcome } from "./shard";
import { configuredBucketNames, readBucketFacts } from "./source";
import { runRetainUntil, runTier, runTierTag } from "./tier";

/** What a run wrote: the run manifest (when complete) and/or this shard's manifest. */
interface Outcome {
    manifest?: StorageManifest;
    manifestKey?: string;
    shard?: StorageShardManifest;
    shardKey?: string;
    /** false: the run manifest's (or its object list's) Azure copy failed (degraded) */
    manifestArchived?: boolean;
}

/** The sync itself, callable from tests and the bench as well as the CLI. */
export async function syncStorage(ctx: CommandContext, opts: SyncOptions): Promise<SyncResult> {
    const cfg = ctx.config;
    const s3 = ctx.s3;
    const now = opts.now ?? new Date();
    const runId = resolveRunId(opts.runId, ctx.env, now, opts.shard.count > 1 || !!opts.mergeOnly);
    const started = new Date();
    let outcome: Outcome;
    try {
        outcome = await runSteps(ctx, opts, s3, runId, started);
        if (outcome.manifest && outcome.manifestKey) outcome.manifestArchived = await archiveManifest(ctx, s3, outcome.manifest, outcome.manifestKey);
    } catch (e) {
        await pushRunMetrics(cfg.alerts.pushgatewayUrl, cfg.env, "sync-storage", { result: "failure", durationSeconds: (Date.now() - started.getTime()) / 1000 }, ctx.log);
        if (e instanceof VaultError) throw new JobFailure(`${e.message}; no manifest written, the next run resumes (blobs that landed are not uploaded again)`, EXIT.failed, e);
        throw e;
    } finally {
        s3.destroy();
    }
    return finish(ctx, outcome, started);
}

function mark(ctx: JobContext, started: Date, phase: string): void {
    ctx.log.debug({ phase, ms: Date.now() - started.getTime() }, "phase");
}

async function runSteps(ctx: JobContext, opts: SyncOptions, s3: S3Client, proposedRunId: string, started: Date): Promise<Outcome> {
    const run = await resolveRun(ctx, s3, proposedRunId, opts.shard.count, isFreshRunId(opts.runId, ctx.env));
    const runId = run.runId;
    mark(ctx, started, "tier chosen");
    if (opts.mergeOnly) return mergeOnly(ctx, run);

    const { index } = opts.shard;
    const sharded = run.shardCount > 1;
    const ownShardKey = storageShardManifestKey(run.env, runId, index, run.shardCount);
    if (sharded && (await listShardManifests(s3, run.vaultBucket, run.env, runId)).has(index)) {
        // A retried pod of a shard that already finished: do not sync again, only try the merge.
        run.log.info({ runId, shard: index }, "this shard already wrote its manifest; only trying the merge");
        const merged = await mergeRun(run, () => configuredBucketNames(ctx));
        const { value } = await getJson<StorageShardManifest>(s3, run.vaultBucket, ownShardKey);
        return { manifest: merged?.manifest, manifestKey: merged?.key, shard: value, shardKey: ownShardKey };
    }

    const prevRef = run.prevRef;
    // the header (version 2: its object list is streamed by the shard; version 1: every entry inline)
    const prev = prevRef ? await vaultOp("read previous manifest", () => loadManifest<StorageManifest>(s3, run.vaultBucket, prevRef)) : undefined;
    mark(ctx, started, "previous manifest loaded");
    const listKey = sharded ? storageShardObjectListKey(run.env, runId, index, run.shardCount) : storageObjectListKey(run.env, runId);
    const archive = await ArchiveCopy.open(run, new Date(run.retain.getTime() + LOCK_SLACK_MS), ctx.env);
    const shard = await syncShard(ctx, opts, { ...run, prev: prev?.manifest, shardIndex: index, listKey, archive });
    if (!sharded) {
        const written = await writeLinkedManifest(run, shard, prev);
        return { manifest: written.manifest, manifestKey: written.key };
    }
    return writeShardAndMerge(run, shard, ownShardKey, index);
}

/** What is already in the vault (complete runs) fixes the previous run and this run's tier and retain-until. */
async function resolveRun(ctx: JobContext, s3: S3Client, proposed: string, shardCount: number, fresh: boolean): Promise<RunScope> {
    const cfg = ctx.config;
    const vaultBucket = cfg.vault.bucket;
    const runs = await vaultOp("list runs", () => listCompleteRuns(s3, vaultBucket, cfg.env, "storage"));
    const runId = fresh ? afterNewest(proposed, runs[runs.length - 1]?.runId) : proposed;
    const runTime = runIdTime(runId);
    if (runs.some((r) => r.runId === runId)) throw new UsageError(`storage run ${runId} is already complete (its manifest exists)`);
    const earlier = runs.filter((r) => r.runId < runId);
    const tier = await vaultOp("read run headers", () => runTier(s3, vaultBucket, earlier, runTime, cfg));
    const retain = runRetainUntil(runTime, tier, cfg);
    return { s3, vaultBucket, env: cfg.env, runId, runTime, tier, retain, cfg, log: ctx.log, prevRef: earlier[earlier.length - 1], shardCount, bucketFacts: () => readBucketFacts(ctx) };
}

/** The run manifest and its object list beside its blobs in the Azure archive (same bytes); false when a copy failed. */
async function archiveManifest(ctx: JobContext, s3: S3Client, manifest: StorageManifest, key: string): Promise<boolean> {
    if (!archiveEnabled(ctx.config)) return true;
    const scope = { env: ctx.config.env, log: ctx.log, retain: new Date(manifest.retainUntil), cfg: ctx.config };
    const archive = await ArchiveCopy.open(scope, scope.retain, ctx.env);
    // the same lifecycle class as in S3 (tier=storage-<tier> where a bucket keeps the tier longer)
    const tier = runTierTag(manifest.tier, ctx.config);
    const list = manifest.objectList;
    const listed = list ? await archive.copyObjectList(list, async () => (await openVersion(s3, ctx.config.vault.bucket, { key: list.key, versionId: list.versionId })).body, manifest, tier) : true;
    return (await archive.copyManifest(key, manifest, { tier })) && listed;
}

async function mergeOnly(ctx: JobContext, run: RunScope): Promise<Outcome> {
    const merged = await mergeRun(run, () => configuredBucketNames(ctx));
    if (!merged) throw new JobFailure(`run ${run.runId}: not every shard has written its shard manifest yet`);
    return { manifest: merged.manifest, manifestKey: merged.key };
}

/** Sharded: this shard's manifest, then the merge if it is the last shard to finish. */
async function writeShardAndMerge(run: RunScope, shard: ShardOutcome, key: string, index: number): Promise<Outcome> {
    const { bucketNames: _b, carriedBuckets: _c, totals: _t, ...record } = shard;
    await vaultOp("write shard manifest", () => putRecordOnce(run.s3, run.cfg.vault, recordWrite(run.cfg, key, run.tier, run.retain), record));
    run.log.info({ runId: run.runId, shard: `${index}/${run.shardCount}` }, "shard manifest written");
    const merged = await mergeRun(run, async () => shard.bucketNames);
    return { manifest: merged?.manifest, manifestKey: merged?.key, shard: record, shardKey: key };
}

async function finish(ctx: JobContext, o: Outcome, started: Date): Promise<SyncResult> {
    // Exit code: this process's own objects (a shard's pod succeeds or is partial on its own share).
    const src = o.shard ?? o.manifest!;
    // Objects left out for unsafe names make the run partial like failed ones (not every object of the
    // bucket is in the backup), but they are not retried: their own gauge and alert name the cause.
    // Then degraded: the S3 copy is complete but the Azure archive lacks some of it (archive-copy.ts).
    const degraded = src.archive?.status === "degraded" || o.manifestArchived === false;
    const exitCode = src.failed.length > 0 || (src.unsafe?.length ?? 0) > 0 ? EXIT.partial : degraded ? EXIT.degraded : EXIT.ok;
    // Metrics describe runs, so they are pushed when the run manifest exists (unsharded, or the shard
    // that merged), with the whole run's numbers; a shard that did not merge pushes nothing (a
    // "success" from it would feed the dead man's switch before the run is complete).
    if (o.manifest) {
        const st = o.manifest.stats;
        await pushRunMetrics(
            ctx.config.alerts.pushgatewayUrl,
            ctx.config.env,
            "sync-storage",
            {
                result: o.manifest.failed.length > 0 || (o.manifest.unsafe?.length ?? 0) > 0 ? "partial" : o.manifest.archive?.status === "degraded" || o.manifestArchived === false ? "degraded" : "success",
                bytes: st.bytesUploaded,
                durationSeconds: (Date.now() - Math.min(started.getTime(), Date.parse(o.manifest.startedAt))) / 1000,
                objects: { copied: st.copied + st.deduplicated, skipped: st.skipped, failed: st.failed },
                extra: [
                    { name: METRICS.sourceStorageBytes, help: "bytes of every object the newest complete storage run holds", value: o.manifest.buckets.reduce((n, b) => n + b.bytes, 0) },
                    { name: METRICS.unsafeObjectNames, help: "objects not synced because their names could address another object or path", value: o.manifest.unsafe?.length ?? 0 },
                ],
            },
            ctx.log,
        );
    }
    return {
        exitCode,
        runId: src.runId,
        manifestKey: o.manifestKey,
        shardManifestKey: o.shardKey,
        manifest: o.manifest,
        shardManifest: o.shard,
        stats: src.stats,
        failed: src.failed,
        vanished: src.vanished ?? [],
        unsafe: src.unsafe ?? [],
    };
}
