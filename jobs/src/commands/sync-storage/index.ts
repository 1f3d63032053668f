// `supabase-backups sync-storage`: every configured Supabase Storage bucket into the vault, incremental
// and content-addressed (DESIGN.md "Vault layout"; issue 4).
//
// Per object: list (SQL) → unchanged since the previous complete run? reuse its entry, no transfer →
// otherwise download (REST or S3 protocol), hashing sha256 + md5 on the way, check the bytes against the
// row's size and eTag → the blob key is known only now, so the bytes must be held somewhere until then:
//
//   * objects up to --memory-threshold (default 4 MiB, declared size from the row) are buffered in memory,
//     in one allocation of the declared size; a byte budget of concurrency × threshold (64 MiB) bounds
//     what all buffered objects (downloading, or waiting for / in an upload slot) hold together;
//   * larger objects (and rows without a size) are spooled to the scratch directory (the CronJob's
//     emptyDir), hashed while written, uploaded from the file, and the file is removed.
//
// Uploading first under a temporary key and copying it to the content address later would need a delete
// the writer identity does not have (and Object Lock would keep every temp object for the lock period), so
// nothing but final content-addressed blobs is ever written to the vault.
//
// Existence of a blob: the previous manifest's blobs are known to exist; other blobs are checked by
// listing (the writer may list its prefixes but, by the IAM policy, may not GetObject/HeadObject a blob):
// one delimiter listing of the blob directories per run, then a ListObjectsV2 on the exact key where the
// directory exists. The put itself carries `If-None-Match: *` so two shards racing on the same content
// cannot overwrite each other. A per-run map of in-flight blob keys dedups within the run.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { finished } from "node:stream/promises";
import { Command, Option } from "commander";
import { ListObjectsV2Command, PutObjectCommand, PutObjectRetentionCommand, type PutObjectCommandInput, type S3Client } from "@aws-sdk/client-s3";
import {
    activeTiers,
    chooseTier,
    EXIT,
    JOB_ENV,
    newRunId,
    isRunId,
    prefixes,
    retainUntil,
    runIdTime,
    storageBlobKey,
    storageRunManifestKey,
    storageShardManifestKey,
    TIER_RANK,
    type ExitCode,
    type JobConfig,
    type StorageManifest,
    type StorageObject,
    type StorageShardManifest,
    type Tier,
} from "@supabase-backups/contracts";
import { action, withCommonOptions } from "../../cli/command";
import { collect, intFlag } from "../../cli/flags";
import { createContext, requireSecret, type JobContext } from "../../runtime/context";
import { JobFailure, UsageError, errorMessage } from "../../runtime/errors";
import { registerSecret } from "../../runtime/log";
import { pushRunMetrics } from "../../runtime/metrics";
import { Progress, formatBytes } from "../../runtime/progress";
import { listCompleteRuns, loadManifest, type RunRef } from "../../vault/runs";
import { bucketSummary, compareObjects, listShardManifests, mergeShards, objectKey, readRunHeader, shardOf } from "../../vault/storage-runs";
import { restSource, s3Source, S3_SOURCE_ENV, SourceError, StorageCatalog, type BucketFilter, type SourceObject, type StorageSource } from "../../supabase/storage-source";
import { createVaultClient, getJson, putRecordOnce, type RecordWrite } from "../../vault/s3";
import { retentionParams, writeParams } from "../../vault/write-params";

/** Env: the run id all shards of one Indexed Job share (else derived from JOB_NAME, see resolveRunId). */
export const RUN_ID_ENV = "SUPABASE_BACKUPS_RUN_ID";

const MiB = 1024 * 1024;

/**
 * Blobs are locked to the run's retain-until plus this slack, on upload and when a run extends a lock
 * that ends before its own retain-until. The slack amortizes the PutObjectRetention requests: a blob
 * referenced night after night by daily runs is re-extended about once a month instead of every night
 * (at the price of keeping it up to this much longer).
 */
export const LOCK_SLACK_DAYS = 30;
const LOCK_SLACK_MS = LOCK_SLACK_DAYS * 86_400_000;

export interface SyncOptions {
    /** only these buckets; the others' entries are carried over from the previous run */
    buckets?: string[];
    shard: { index: number; count: number };
    /** only merge the shard manifests of `runId` into the run manifest */
    mergeOnly?: boolean;
    runId?: string;
    concurrency?: number;
    retries?: number;
    scratchDir?: string;
    memoryThreshold?: number;
    multipartThreshold?: number;
    retryBaseMs?: number;
    /** abort and retry a download that sends nothing for this long */
    stallSeconds?: number;
    now?: Date;
}

export interface SyncResult {
    exitCode: ExitCode;
    runId: string;
    manifestKey?: string;
    shardManifestKey?: string;
    manifest?: StorageManifest;
    shardManifest?: StorageShardManifest;
    stats: StorageManifest["stats"];
    failed: StorageManifest["failed"];
    vanished: NonNullable<StorageManifest["vanished"]>;
}

class IntegrityError extends Error {}
/** The vault refused or could not be reached: fatal for the run (no manifest is written). */
class VaultError extends Error {}

async function vaultOp<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
        return await fn();
    } catch (e: any) {
        if (e instanceof VaultError) throw e;
        const status = e?.$metadata?.httpStatusCode;
        throw Object.assign(new VaultError(`vault ${what}: ${e?.name ?? "error"}${status ? ` (HTTP ${status})` : ""}: ${errorMessage(e)}`), { status, code: e?.name });
    }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Full-jitter exponential backoff: base·2^attempt, capped at 30 s. */
export function backoffMs(base: number, attempt: number): number {
    return Math.random() * Math.min(30_000, base * 2 ** attempt);
}

/** `"d41d8…"` / `W/"…"` → the md5 hex when the eTag is a plain single-part md5, else undefined. */
export function md5FromETag(eTag: string | null | undefined): string | undefined {
    if (!eTag) return undefined;
    const m = /^(?:W\/)?"?([0-9a-f]{32})"?$/i.exec(eTag.trim());
    return m ? m[1].toLowerCase() : undefined;
}

/** Start (UTC) of the period of the widest active tier containing `d`: older runs cannot fill a period. */
function widestPeriodStart(d: Date, tiers: Tier[]): Date {
    const day = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
    const widest = tiers.sort((a, b) => TIER_RANK[b] - TIER_RANK[a])[0] ?? "daily";
    switch (widest) {
        case "yearly":
            return new Date(Date.UTC(d.getUTCFullYear(), 0, 1));
        case "monthly":
            return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1));
        case "weekly":
            return new Date(day.getTime() - (((day.getUTCDay() + 6) % 7) * 86_400_000));
        default:
            return day;
    }
}

/**
 * The run id: --run-id, else $SUPABASE_BACKUPS_RUN_ID, else — for a CronJob-created Job, whose name ends
 * in its scheduled time in minutes (`sync-storage-29378040`) — derived from $JOB_NAME so every shard
 * of the Indexed Job computes the same id; else (unsharded only) a fresh one.
 */
export function resolveRunId(explicit: string | undefined, env: NodeJS.ProcessEnv, now: Date, sharded: boolean): string {
    const given = explicit ?? env[RUN_ID_ENV];
    if (given) {
        if (!isRunId(given)) throw new UsageError(`--run-id: not a run id: "${given}" (expected e.g. 20261122T193000Z-k3x9qa)`);
        return given;
    }
    const job = env.JOB_NAME;
    const m = job ? /-(\d{7,})$/.exec(job) : null;
    if (m) {
        const suffix = createHash("sha256").update(job!).digest("hex").replace(/[^a-z0-9]/g, "").slice(0, 6);
        return newRunId(new Date(Number(m[1]) * 60_000), suffix);
    }
    if (sharded) throw new UsageError(`a sharded run needs a run id all shards share: pass --run-id, or set ${RUN_ID_ENV} or JOB_NAME (the Job's name)`);
    return newRunId(now);
}

export function parseShard(value: string | undefined, env: NodeJS.ProcessEnv, configShards: number): { index: number; count: number } {
    if (value !== undefined) {
        const m = /^(\d+)\/(\d+)$/.exec(value);
        if (!m) throw new UsageError(`--shard: expected I/N (e.g. 0/4), got "${value}"`);
        const index = Number(m[1]);
        const count = Number(m[2]);
        if (count < 1 || index >= count) throw new UsageError(`--shard: index ${index} is not within 0..${count - 1}`);
        return { index, count };
    }
    const idx = env[JOB_ENV.jobCompletionIndex];
    if (idx !== undefined && idx !== "") {
        const count = Number(env[JOB_ENV.jobCompletions] ?? configShards);
        const index = Number(idx);
        if (!Number.isInteger(index) || !Number.isInteger(count) || count < 1 || index < 0 || index >= count) {
            throw new UsageError(`${JOB_ENV.jobCompletionIndex}=${idx} / ${JOB_ENV.jobCompletions}=${env[JOB_ENV.jobCompletions] ?? ""}: not a valid shard`);
        }
        return { index, count };
    }
    return { index: 0, count: 1 };
}

function projectUrl(cfg: JobConfig): string {
    return cfg.supabase.url ?? `https://${cfg.supabase.projectRef}.supabase.co`;
}

function openSource(ctx: JobContext, concurrency: number): StorageSource {
    const cfg = ctx.config;
    if (cfg.storage.mode === "s3") {
        const accessKeyId = ctx.env[S3_SOURCE_ENV.accessKeyId];
        const secretAccessKey = ctx.env[S3_SOURCE_ENV.secretAccessKey];
        if (!accessKeyId || !secretAccessKey) {
            throw new UsageError(`storage.mode is s3: set ${S3_SOURCE_ENV.accessKeyId} and ${S3_SOURCE_ENV.secretAccessKey} (Storage S3 access keys from the project's settings)`);
        }
        registerSecret(secretAccessKey);
        return s3Source(
            {
                endpoint: cfg.storage.s3Endpoint ?? `${projectUrl(cfg).replace(/\/+$/, "")}/storage/v1/s3`,
                region: ctx.env[S3_SOURCE_ENV.region] ?? cfg.aws.region,
                accessKeyId,
                secretAccessKey,
            },
            concurrency,
        );
    }
    return restSource(projectUrl(cfg), requireSecret(ctx, "serviceRoleKey"));
}

interface Fetched {
    sha256: string;
    size: number;
    buffer?: Buffer;
    file?: string;
}

/** The sync itself, callable from tests and the bench as well as the CLI. */
export async function syncStorage(ctx: JobContext, opts: SyncOptions): Promise<SyncResult> {
    const cfg = ctx.config;
    const log = ctx.log;
    const env = cfg.env;
    const vaultBucket = cfg.vault.bucket;
    const s3 = createVaultClient(cfg.vault);
    const now = opts.now ?? new Date();
    const { index: shardIndex, count: shardCount } = opts.shard;
    const sharded = shardCount > 1;
    const runId = resolveRunId(opts.runId, ctx.env, now, sharded || !!opts.mergeOnly);
    const runTime = runIdTime(runId);
    const policy = cfg.retention;
    const started = new Date();

    try {
        // What is already in the vault: complete runs (for `previous`, the tier and the comparison).
        const mark = (phase: string) => log.debug({ phase, ms: Date.now() - started.getTime() }, "phase");
        const runs = await vaultOp("list runs", () => listCompleteRuns(s3, vaultBucket, env, "storage"));
        if (runs.some((r) => r.runId === runId)) throw new UsageError(`storage run ${runId} is already complete (its manifest exists)`);
        const earlier = runs.filter((r) => r.runId < runId);
        const prevRef: RunRef | undefined = earlier[earlier.length - 1];
        const tier = await vaultOp("read run headers", () => runTier(s3, vaultBucket, earlier, runTime, cfg));
        const retain = retainUntil(runTime, tier, policy);
        mark("tier chosen");
        const common = { s3, vaultBucket, env, runId, runTime, tier, retain, cfg, log, prevRef, shardCount };

        if (opts.mergeOnly) {
            const merged = await mergeRun(common, () => configuredBucketNames(ctx));
            if (!merged) throw new JobFailure(`run ${runId}: not every shard has written its shard manifest yet`);
            return finish(ctx, merged.manifest, merged.key, undefined, undefined, started);
        }

        const ownShardKey = storageShardManifestKey(env, runId, shardIndex, shardCount);
        if (sharded && (await listShardManifests(s3, vaultBucket, env, runId)).has(shardIndex)) {
            log.info({ runId, shard: shardIndex }, "this shard already wrote its manifest; only trying the merge");
            const merged = await mergeRun(common, () => configuredBucketNames(ctx));
            const { value } = await getJson<StorageShardManifest>(s3, vaultBucket, ownShardKey);
            return finish(ctx, merged?.manifest, merged?.key, value, ownShardKey, started);
        }

        const prev = prevRef ? await vaultOp("read previous manifest", () => loadManifest<StorageManifest>(s3, vaultBucket, prevRef)) : undefined;
        mark("previous manifest loaded");
        const shardManifest = await syncShard(ctx, opts, { ...common, prev: prev?.manifest, shardIndex });

        if (!sharded) {
            // Another run may have completed while this one ran (a per-bucket CronJob firing at the same
            // time): link to the newest complete run, not the one seen at the start, so the hash chain
            // stays linear, and take the buckets this run did not sync from that newer state.
            let finalRunId = runId;
            let previous = prev;
            let objects = shardManifest.objects;
            const latest = await vaultOp("list runs", () => listCompleteRuns(s3, vaultBucket, env, "storage"));
            const newest = latest[latest.length - 1];
            if (newest && newest.runId !== prev?.ref.runId) {
                previous = await vaultOp("read newest manifest", () => loadManifest<StorageManifest>(s3, vaultBucket, newest));
                const carried = new Set(shardManifest.carriedBuckets);
                objects = [...objects.filter((o) => !carried.has(o.bucket)), ...previous.manifest.objects.filter((o) => carried.has(o.bucket))].sort(compareObjects);
                // A run that started later but finished first sorts after this one's id: take a new id
                // (now) so run order = chain order.
                if (newest.runId > runId) finalRunId = newRunId(new Date());
                log.warn({ runId, finalRunId, completedMeanwhile: newest.runId }, "another sync-storage run completed during this one: linking to it");
            }
            const manifest: StorageManifest = {
                schemaVersion: 1,
                kind: "storage",
                env,
                runId: finalRunId,
                startedAt: shardManifest.startedAt,
                finishedAt: new Date().toISOString(),
                mode: cfg.storage.mode,
                shards: 1,
                tier,
                retainUntil: retain.toISOString(),
                buckets: bucketSummary(objects, shardManifest.bucketNames),
                objects,
                failed: shardManifest.failed,
                vanished: shardManifest.vanished,
                stats: shardManifest.stats,
                previous: previous ? { runId: previous.ref.runId, sha256: previous.sha256 } : null,
            };
            const key = storageRunManifestKey(env, finalRunId);
            // Written LAST: the run is complete iff this object exists.
            await vaultOp("write manifest", () => putRecordOnce(s3, cfg.vault, recordWrite(cfg, key, tier, retain), manifest));
            return finish(ctx, manifest, key, undefined, undefined, started);
        }

        const { bucketNames: _b, carriedBuckets: _c, ...shardRecord } = shardManifest;
        await vaultOp("write shard manifest", () => putRecordOnce(s3, cfg.vault, recordWrite(cfg, ownShardKey, tier, retain), shardRecord));
        log.info({ runId, shard: `${shardIndex}/${shardCount}` }, "shard manifest written");
        // The last shard to finish writes the run manifest.
        const merged = await mergeRun(common, async () => shardManifest.bucketNames);
        return finish(ctx, merged?.manifest, merged?.key, shardRecord, ownShardKey, started);
    } catch (e) {
        await pushRunMetrics(cfg.alerts.pushgatewayUrl, env, "sync-storage", { result: "failure", durationSeconds: (Date.now() - started.getTime()) / 1000 }, log);
        if (e instanceof VaultError) throw new JobFailure(`${e.message}; no manifest written, the next run resumes (blobs that landed are not uploaded again)`, EXIT.failed, e);
        throw e;
    } finally {
        s3.destroy();
    }
}

async function finish(
    ctx: JobContext,
    manifest: StorageManifest | undefined,
    manifestKey: string | undefined,
    shard: StorageShardManifest | undefined,
    shardKey: string | undefined,
    started: Date,
): Promise<SyncResult> {
    // Exit code: this process's own objects (a shard's pod succeeds or is partial on its own share).
    const src = shard ?? manifest!;
    const exitCode = src.failed.length > 0 ? EXIT.partial : EXIT.ok;
    // Metrics describe runs, so they are pushed when the run manifest exists (unsharded, or the shard
    // that merged), with the whole run's numbers; a shard that did not merge pushes nothing (a
    // "success" from it would feed the dead man's switch before the run is complete).
    if (manifest) {
        const st = manifest.stats;
        await pushRunMetrics(
            ctx.config.alerts.pushgatewayUrl,
            ctx.config.env,
            "sync-storage",
            {
                result: manifest.failed.length > 0 ? "partial" : "success",
                bytes: st.bytesUploaded,
                durationSeconds: (Date.now() - Math.min(started.getTime(), Date.parse(manifest.startedAt))) / 1000,
                objects: { copied: st.copied + st.deduplicated, skipped: st.skipped, failed: st.failed },
            },
            ctx.log,
        );
    }
    return {
        exitCode,
        runId: src.runId,
        manifestKey,
        shardManifestKey: shardKey,
        manifest,
        shardManifest: shard,
        stats: src.stats,
        failed: src.failed,
        vanished: src.vanished ?? [],
    };
}

interface RunCommon {
    s3: S3Client;
    vaultBucket: string;
    env: string;
    runId: string;
    runTime: Date;
    tier: Tier;
    retain: Date;
    cfg: JobConfig;
    log: JobContext["log"];
    prevRef?: RunRef;
    shardCount: number;
}

/** Tier of this run from the headers of the complete runs in the widest active period. */
async function runTier(s3: S3Client, bucket: string, earlier: RunRef[], runTime: Date, cfg: JobConfig): Promise<Tier> {
    const tiers = activeTiers(cfg.retention);
    const since = widestPeriodStart(runTime, [...tiers]);
    const relevant = earlier.filter((r) => runIdTime(r.runId) >= since);
    const headers = [];
    for (let i = 0; i < relevant.length; i += 8) headers.push(...(await Promise.all(relevant.slice(i, i + 8).map((r) => readRunHeader(s3, bucket, r)))));
    // Periods are counted by run id time (what every shard agrees on), not by wall-clock start.
    return chooseTier(runTime, headers.map((x) => ({ tier: x.tier, startedAt: runIdTime(x.runId) })), cfg.retention);
}

/** Manifests: locked like the run, tagged with its tier (lifecycle expires them with the tier). */
function recordWrite(cfg: JobConfig, key: string, tier: Tier, retain: Date): RecordWrite {
    return { key, tags: { tier, env: cfg.env, kind: "sync-storage" }, retainUntil: retain };
}

/** Merge when every shard manifest exists; undefined when some are missing. */
/** Configured buckets (default: every bucket of the project), for the merge's per-bucket totals. */
async function configuredBucketNames(ctx: JobContext): Promise<string[]> {
    if (ctx.config.storage.buckets) return ctx.config.storage.buckets.map((b) => b.name);
    const catalog = await StorageCatalog.connect(requireSecret(ctx, "databaseUrl"));
    try {
        return await catalog.bucketNames();
    } finally {
        await catalog.close();
    }
}

async function mergeRun(c: RunCommon, bucketNames: () => Promise<string[]>): Promise<{ manifest: StorageManifest; key: string } | undefined> {
    const present = await vaultOp("list shard manifests", () => listShardManifests(c.s3, c.vaultBucket, c.env, c.runId));
    const mine = [...present.entries()].filter(([, v]) => v.count === c.shardCount);
    if (mine.length < c.shardCount) {
        c.log.info({ runId: c.runId, present: mine.length, shards: c.shardCount }, "not every shard is done; the last one merges");
        return undefined;
    }
    const shards = await vaultOp("read shard manifests", () => Promise.all(mine.map(([, v]) => getJson<StorageShardManifest>(c.s3, c.vaultBucket, v.key).then((r) => r.value))));
    const m = mergeShards(shards, c.shardCount);
    const prev = c.prevRef ? await vaultOp("read previous manifest", () => loadManifest<StorageManifest>(c.s3, c.vaultBucket, c.prevRef!)) : undefined;
    const manifest: StorageManifest = {
        schemaVersion: 1,
        kind: "storage",
        env: c.env,
        runId: c.runId,
        startedAt: m.startedAt,
        finishedAt: new Date().toISOString(),
        mode: c.cfg.storage.mode,
        shards: c.shardCount,
        tier: c.tier,
        retainUntil: c.retain.toISOString(),
        // every configured bucket, empty ones included, as an unsharded run lists them
        buckets: bucketSummary(m.objects, await bucketNames()),
        objects: m.objects,
        failed: m.failed,
        vanished: m.vanished,
        stats: m.stats,
        previous: prev ? { runId: prev.ref.runId, sha256: prev.sha256 } : null,
    };
    const key = storageRunManifestKey(c.env, c.runId);
    await vaultOp("write manifest", () => putRecordOnce(c.s3, c.cfg.vault, recordWrite(c.cfg, key, c.tier, c.retain), manifest));
    c.log.info({ runId: c.runId, shards: c.shardCount, objects: manifest.objects.length }, "run manifest written (shards merged)");
    return { manifest, key };
}

type ShardOutcome = StorageShardManifest & { bucketNames: string[]; carriedBuckets: string[] };

async function syncShard(ctx: JobContext, opts: SyncOptions, c: RunCommon & { prev?: StorageManifest; shardIndex: number }): Promise<ShardOutcome> {
    const { s3, vaultBucket, env, cfg, log, tier, retain, prev } = c;
    const concurrency = opts.concurrency ?? cfg.storage.concurrency;
    const retries = opts.retries ?? cfg.storage.retries;
    const memoryThreshold = opts.memoryThreshold ?? 4 * MiB;
    const multipartThreshold = opts.multipartThreshold ?? 4 * 1024 * MiB;
    const retryBase = opts.retryBaseMs ?? 500;
    const stallMs = (opts.stallSeconds ?? 120) * 1000;
    const scratch = join(opts.scratchDir ?? tmpdir(), `sync-storage-${c.runId}-${c.shardIndex}-${randomBytes(3).toString("hex")}`);
    const startedAt = new Date().toISOString();
    const inShard = (bucket: string, name: string) => shardOf(bucket, name, c.shardCount) === c.shardIndex;

    const catalog = await StorageCatalog.connect(requireSecret(ctx, "databaseUrl")).catch((e) => {
        throw new JobFailure(`cannot connect to the Supabase database: ${errorMessage(e)}`);
    });
    const source = openSource(ctx, concurrency);
    await mkdir(scratch, { recursive: true });
    const progress = new Progress("sync-storage", log).start();
    try {
        // Buckets: configured (default all); every configured one must exist.
        const existing = await catalog.bucketNames();
        const configured: BucketFilter[] = cfg.storage.buckets
            ? cfg.storage.buckets.map((b) => ({ name: b.name, include: b.include ?? [], exclude: b.exclude ?? [] }))
            : existing.map((name) => ({ name, include: [], exclude: [] }));
        const unknown = configured.filter((b) => !existing.includes(b.name)).map((b) => b.name);
        if (unknown.length) {
            throw new UsageError(`storage.buckets: no such bucket in the project: ${unknown.join(", ")} (storage.buckets has: ${existing.join(", ") || "none"})`);
        }
        for (const b of opts.buckets ?? []) {
            if (!configured.some((x) => x.name === b)) {
                throw new UsageError(`--bucket ${b}: not a configured bucket (${configured.map((x) => x.name).join(", ") || "none"})`);
            }
        }
        const toSync = opts.buckets ? configured.filter((b) => opts.buckets!.includes(b.name)) : configured;
        const carried = configured.filter((b) => !toSync.includes(b)).map((b) => b.name);

        // The previous run: its entries by bucket/name, its blobs (known to exist in the vault) and their
        // recorded lock ends (`lockedUntil`, a lower bound of the real lock; absent in older manifests).
        const prevEntries = new Map<string, StorageObject>();
        const knownBlobs = new Set<string>();
        const knownLock = new Map<string, string>();
        for (const o of prev?.objects ?? []) {
            prevEntries.set(objectKey(o.bucket, o.name), o);
            knownBlobs.add(o.blobKey);
            const k = knownLock.get(o.blobKey);
            if (o.lockedUntil && (!k || Date.parse(o.lockedUntil) > Date.parse(k))) knownLock.set(o.blobKey, o.lockedUntil);
        }
        // DESIGN.md "Retention": a blob's lock must cover every retained manifest that references it. This
        // run's manifest references its blobs until `retain`: a blob whose known lock ends earlier (or is
        // unknown) is extended to `retain` + slack, once per key per run; the lock end is recorded per entry.
        const lockTarget = new Date(retain.getTime() + LOCK_SLACK_MS);
        const lockCovers = (key: string): boolean => {
            const k = knownLock.get(key);
            return !!k && Date.parse(k) >= retain.getTime();
        };
        /** lock ends this run set (upload, extension), by blob key */
        const setLocks = new Map<string, string>();

        const objects: StorageObject[] = [];
        const failed: StorageShardManifest["failed"] = [];
        const vanished: NonNullable<StorageShardManifest["vanished"]> = [];
        const stats = { listed: 0, copied: 0, skipped: 0, deduplicated: 0, failed: 0, bytesUploaded: 0 };
        /** summed wall time per operation kind (ms), logged at the end: where a slow run spends it */
        const timing = { listSource: 0, download: 0, exists: 0, upload: 0 };
        const timed = async <T>(k: keyof typeof timing, fn: () => Promise<T>): Promise<T> => {
            const t0 = performance.now();
            try {
                return await fn();
            } finally {
                timing[k] += performance.now() - t0;
            }
        };
        const blobJobs = new Map<string, Promise<"uploaded" | "existing">>();
        const extended = new Map<string, Promise<void>>();
        let fatal: unknown;
        const abort = new AbortController();

        for (const name of carried) {
            for (const o of prev?.objects ?? []) if (o.bucket === name && inShard(o.bucket, o.name)) objects.push(o);
        }

        // No `tier` tag on blobs: a blob is shared by runs of every tier, and the tier lifecycle rules
        // would expire it under a newer run that still references it. Blobs go only through gc.
        const putOpts = (key: string, sha256: string, size: number): PutObjectCommandInput =>
            writeParams(cfg.vault, { key, sha256, size, contentType: "application/octet-stream", retainUntil: lockTarget, tags: { env, kind: "sync-storage", content: "blob" } });

        const extendRetention = (key: string, lowerBoundKnown: boolean): Promise<void> => {
            let p = extended.get(key);
            if (!p) {
                p = vaultOp(`extend retention of ${key}`, () =>
                    s3.send(new PutObjectRetentionCommand(retentionParams(cfg.vault, key, lockTarget))),
                ).then(
                    () => {
                        setLocks.set(key, lockTarget.toISOString());
                    },
                    (e) => {
                        // The blob may already be locked longer than requested (a higher-tier run, or a
                        // manifest that did not record it): S3 refuses to shorten COMPLIANCE with 403 "Access
                        // Denied because object protected by object lock", which is fine — its lock already
                        // covers this run (S3 does not say until when: the requested end is recorded). Any
                        // other refusal of a blob the previous manifest vouches for is real.
                        if (/object lock/i.test(errorMessage(e))) {
                            log.debug({ key }, "retention already longer than requested");
                            setLocks.set(key, lockTarget.toISOString());
                            return;
                        }
                        if (lowerBoundKnown) throw e;
                        log.warn({ key, err: errorMessage(e) }, "could not extend the retention of an existing blob (it may already be locked longer)");
                    },
                );
                extended.set(key, p);
            }
            return p;
        };

        // Existence of a blob not in the previous manifest: one delimiter listing tells which blob
        // directories (`blobs/ab/`) exist at all, so a first sync into an empty vault lists nothing else;
        // otherwise one ListObjectsV2 on the exact key. A blob another shard stores meanwhile is caught by
        // the put's If-None-Match.
        let blobDirs: Promise<Set<string>> | undefined;
        const listBlobDirs = () =>
            vaultOp("list blob directories", async () => {
                const dirs = new Set<string>();
                let token: string | undefined;
                do {
                    const r = await s3.send(new ListObjectsV2Command({ Bucket: vaultBucket, Prefix: prefixes.storageBlobs(env), Delimiter: "/", ContinuationToken: token }));
                    for (const p of r.CommonPrefixes ?? []) dirs.add(p.Prefix!);
                    token = r.IsTruncated ? r.NextContinuationToken : undefined;
                } while (token);
                return dirs;
            });
        const blobExists = async (key: string): Promise<boolean> => {
            const dir = key.slice(0, key.lastIndexOf("/") + 1);
            if (!blobDirs) {
                blobDirs = listBlobDirs();
                blobDirs.catch(() => (blobDirs = undefined));
            }
            if (!(await blobDirs).has(dir)) return false;
            return vaultOp(`list ${key}`, async () => {
                const r = await s3.send(new ListObjectsV2Command({ Bucket: vaultBucket, Prefix: key, MaxKeys: 1 }));
                return (r.Contents ?? []).some((o) => o.Key === key);
            });
        };

        /** PutObject whose SigV4 payload hash is the sha256 we already computed (saves a pass over the bytes). */
        const putCommand = (input: PutObjectCommandInput, sha256: string) => {
            const cmd = new PutObjectCommand(input);
            cmd.middlewareStack.add(
                (next) => async (args: any) => {
                    if (args.request?.headers) args.request.headers["x-amz-content-sha256"] = sha256;
                    return next(args);
                },
                { step: "build", name: "precomputedPayloadHash" },
            );
            return cmd;
        };

        const putBlob = async (key: string, f: Fetched): Promise<"uploaded" | "existing"> => {
            try {
                if (f.buffer) {
                    await s3.send(putCommand({ ...putOpts(key, f.sha256, f.size), Body: f.buffer }, f.sha256));
                } else if (f.size <= multipartThreshold) {
                    await s3.send(putCommand({ ...putOpts(key, f.sha256, f.size), Body: createReadStream(f.file!) }, f.sha256));
                } else {
                    // Beyond one PutObject (5 GiB): multipart, SHA256 per part (S3 checks each part).
                    const { ChecksumSHA256: _c, IfNoneMatch: _i, ContentLength: _l, ...params } = putOpts(key, f.sha256, f.size);
                    // loaded only here: the common case never needs it (startup time counts in every run)
                    const { Upload } = require("@aws-sdk/lib-storage") as typeof import("@aws-sdk/lib-storage");
                    await new Upload({ client: s3, params: { ...params, Body: createReadStream(f.file!) }, partSize: Math.max(5 * MiB, Math.min(64 * MiB, multipartThreshold)), queueSize: 2, leavePartsOnError: false }).done();
                }
                return "uploaded";
            } catch (e: any) {
                // If-None-Match lost the race: someone (another shard) stored the same content.
                if (e?.$metadata?.httpStatusCode === 412 || e?.name === "PreconditionFailed") return "existing";
                throw e;
            }
        };

        /** Make sure the blob is in the vault with at least this run's lock; once per key per run. */
        const storeBlob = (f: Fetched): Promise<"uploaded" | "existing"> => {
            const key = storageBlobKey(env, f.sha256);
            let job = blobJobs.get(key);
            if (job) return job.then(() => "existing" as const);
            job = (async () => {
                if (knownBlobs.has(key)) {
                    if (!lockCovers(key)) await extendRetention(key, true);
                    return "existing";
                }
                if (await timed("exists", () => blobExists(key))) {
                    await extendRetention(key, false);
                    return "existing";
                }
                const how = await timed("upload", () => vaultOp(`put ${key}`, () => putBlob(key, f)));
                if (how === "uploaded") setLocks.set(key, lockTarget.toISOString());
                // lost the If-None-Match race: the other writer's lock is unknown
                else await extendRetention(key, false);
                return how;
            })();
            blobJobs.set(key, job);
            // A failed attempt must not poison later attempts at the same content.
            job.catch(() => blobJobs.delete(key));
            return job;
        };

        const downloads = new Semaphore(concurrency);
        // Bytes held in memory (buffered objects, downloading or waiting for an upload slot): at most
        // concurrency × memory threshold, whatever the mix of sizes.
        const memory = new ByteBudget(Math.max(concurrency * memoryThreshold, memoryThreshold));
        const uploads = new Semaphore(concurrency);
        let spoolSeq = 0;
        const fetchVerified = async (o: SourceObject): Promise<Fetched> => {
            const d = await source.get(o.bucket, o.name, abort.signal);
            // A download that stops sending (no byte for --stall-seconds) is aborted and retried.
            let stall: NodeJS.Timeout | undefined;
            const arm = () => {
                clearTimeout(stall);
                stall = setTimeout(() => (d.body as any).destroy?.(new SourceError(`${o.bucket}/${o.name}: no data for ${stallMs / 1000} s`, "transient")), stallMs);
            };
            arm();
            const sha = createHash("sha256");
            const md5 = createHash("md5");
            let size = 0;
            const inMemory = o.size !== null && o.size <= memoryThreshold;
            // One allocation of the declared size; the bytes are copied in as they arrive.
            const buffer = inMemory ? Buffer.allocUnsafe(o.size!) : undefined;
            let file: string | undefined;
            try {
                if (inMemory) {
                    for await (const chunk of d.body) {
                        arm();
                        const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
                        sha.update(b);
                        md5.update(b);
                        size += b.length;
                        if (size > buffer!.length) throw new IntegrityError(`${o.bucket}/${o.name}: got more bytes than the ${o.size} its row declares`);
                        b.copy(buffer!, size - b.length);
                    }
                } else {
                    file = join(scratch, `${++spoolSeq}.part`);
                    const out = createWriteStream(file);
                    try {
                        for await (const chunk of d.body) {
                            arm();
                            const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
                            sha.update(b);
                            md5.update(b);
                            size += b.length;
                            if (!out.write(b)) await new Promise<void>((r) => out.once("drain", () => r()));
                        }
                    } finally {
                        out.end();
                        await finished(out).catch(() => undefined);
                    }
                }
                clearTimeout(stall);
                if (o.size !== null && size !== o.size) throw new IntegrityError(`${o.bucket}/${o.name}: got ${size} bytes, its row declares ${o.size}`);
                const md5Hex = md5.digest("hex");
                const promised = md5FromETag(o.eTag);
                if (promised && promised !== md5Hex) throw new IntegrityError(`${o.bucket}/${o.name}: bytes do not match the eTag ${o.eTag} (md5 ${md5Hex})`);
                return { sha256: sha.digest("hex"), size, buffer, file };
            } catch (e) {
                clearTimeout(stall);
                if (file) await rm(file, { force: true });
                // Drain nothing further: destroy the source stream so the connection is released.
                (d.body as any).destroy?.();
                throw e;
            }
        };

        const entryFrom = (o: SourceObject, sha256: string, size: number): StorageObject => ({
            bucket: o.bucket,
            name: o.name,
            size,
            sha256,
            contentType: o.contentType,
            cacheControl: o.cacheControl,
            metadata: o.userMetadata,
            updatedAt: o.updatedAt,
            eTag: o.eTag,
            blobKey: storageBlobKey(env, sha256),
        });

        const syncObject = async (o: SourceObject): Promise<void> => {
            let lastError = "";
            for (let attempt = 0; attempt <= retries; attempt++) {
                if (fatal) return;
                if (attempt > 0) await sleep(backoffMs(retryBase, attempt - 1));
                let f: Fetched | undefined;
                let reserved = 0;
                try {
                    // In-memory objects reserve their size from the buffer budget until uploaded.
                    reserved = o.size !== null && o.size <= memoryThreshold ? o.size : 0;
                    await memory.acquire(reserved);
                    f = await downloads.run(() => timed("download", () => fetchVerified(o)));
                    const fetched = f;
                    const how = await uploads.run(() => storeBlob(fetched));
                    objects.push(entryFrom(o, f.sha256, f.size));
                    if (how === "uploaded") {
                        stats.copied++;
                        stats.bytesUploaded += f.size;
                    } else stats.deduplicated++;
                    progress.add(f.size, 1);
                    return;
                } catch (e) {
                    if (e instanceof VaultError) {
                        lastError = e.message;
                        if (attempt === retries) throw e; // the vault is down: the run stops, no manifest
                        log.warn({ bucket: o.bucket, name: o.name, attempt, err: e.message }, "vault error, retrying");
                        continue;
                    }
                    if (e instanceof SourceError && e.kind === "not-found") {
                        const now = await catalog.current(o.bucket, o.name);
                        if (!now) {
                            log.warn({ bucket: o.bucket, name: o.name }, "object deleted after listing: recorded as vanished");
                            vanished.push({ bucket: o.bucket, name: o.name });
                            return;
                        }
                        if (now.updatedAt !== o.updatedAt || now.eTag !== o.eTag) o = now; // replaced meanwhile: fetch the new one
                        lastError = e.message;
                    } else if (e instanceof SourceError && e.kind === "fatal") {
                        lastError = e.message;
                        if (/HTTP (401|403)\b/.test(e.message)) throw new JobFailure(`Supabase Storage refused the credentials: ${e.message}`);
                        break;
                    } else {
                        lastError = errorMessage(e);
                    }
                    log.warn({ bucket: o.bucket, name: o.name, attempt, err: lastError }, attempt < retries ? "object failed, retrying" : "object failed");
                } finally {
                    memory.release(reserved);
                    if (f) f.buffer = undefined;
                    if (f?.file) await rm(f.file, { force: true });
                }
            }
            failed.push({ bucket: o.bucket, name: o.name, error: lastError });
            stats.failed++;
        };

        // Bounded parallelism: `concurrency` downloads and `concurrency` uploads at a time, at most
        // 2 × `concurrency` objects in flight; the listing waits for room. Downloads and uploads overlap
        // (an object's upload cannot start before its download ends: its key is the hash of its bytes).
        const inflight = new Set<Promise<void>>();
        const launch = (p: Promise<void>) => {
            const t = p.catch((e) => {
                fatal ??= e;
                abort.abort();
            }).finally(() => inflight.delete(t));
            inflight.add(t);
        };
        const room = async () => {
            while (inflight.size >= 2 * concurrency) await Promise.race(inflight);
        };

        for (const b of toSync) {
            for await (const page of catalog.listBucket(b)) {
                for (const o of page) {
                    if (fatal) break;
                    if (!inShard(o.bucket, o.name)) continue;
                    stats.listed++;
                    const p = prevEntries.get(objectKey(o.bucket, o.name));
                    if (p && p.eTag === o.eTag && p.updatedAt === o.updatedAt && (o.size === null || p.size === o.size)) {
                        // Unchanged: same name, eTag, size, updated_at. Keep the blob; refresh the descriptive fields.
                        objects.push({ ...p, contentType: o.contentType, cacheControl: o.cacheControl, metadata: o.userMetadata });
                        stats.skipped++;
                        await ensureLock(p.blobKey);
                        continue;
                    }
                    await room();
                    launch(syncObject(o));
                }
                if (fatal) break;
            }
            if (fatal) break;
        }
        for (const o of objects) {
            if (fatal) break;
            if (carried.includes(o.bucket)) await ensureLock(o.blobKey);
        }
        log.debug({ phase: "listing done", listed: stats.listed }, "phase");
        await Promise.all(inflight);
        if (fatal) throw fatal;
        log.debug({ phase: "transfers done" }, "phase");

        /** A blob of the previous manifest referenced without a transfer: extend its lock if it ends before `retain` (bounded like the transfers). */
        async function ensureLock(key: string): Promise<void> {
            if (lockCovers(key) || extended.has(key)) return;
            await room();
            launch(extendRetention(key, true));
        }

        // Every entry records its blob's lock end: set by this run, else as the previous run recorded it.
        for (let i = 0; i < objects.length; i++) {
            const { lockedUntil: _l, ...o } = objects[i];
            const l = setLocks.get(o.blobKey) ?? knownLock.get(o.blobKey);
            objects[i] = l ? { ...o, lockedUntil: l } : o;
        }
        objects.sort(compareObjects);
        failed.sort(compareObjects);
        vanished.sort(compareObjects);
        progress.stop();
        log.info(
            { ...stats, bytes: formatBytes(stats.bytesUploaded), timingMs: Object.fromEntries(Object.entries(timing).map(([k, v]) => [k, Math.round(v)])), tier, shard: `${c.shardIndex}/${c.shardCount}`, vanished: vanished.length },
            `sync-storage: ${stats.copied} copied, ${stats.deduplicated} deduplicated, ${stats.skipped} unchanged, ${stats.failed} failed`,
        );
        return {
            schemaVersion: 1,
            kind: "storage-shard",
            env,
            runId: c.runId,
            shard: { index: c.shardIndex, count: c.shardCount },
            startedAt,
            finishedAt: new Date().toISOString(),
            objects,
            failed,
            vanished,
            stats,
            bucketNames: configured.map((b) => b.name),
            carriedBuckets: carried,
        };
    } finally {
        progress.stop();
        source.close();
        await catalog.close();
        await rm(scratch, { recursive: true, force: true });
    }
}

/** A pool of bytes: `acquire(n)` waits (FIFO) until n are free. n never exceeds the capacity. */
export class ByteBudget {
    private free: number;
    private readonly waiting: Array<{ n: number; go: () => void }> = [];
    constructor(private readonly capacity: number) {
        this.free = capacity;
    }
    async acquire(n: number): Promise<void> {
        n = Math.min(n, this.capacity);
        if (n === 0) return;
        if (!this.waiting.length && this.free >= n) {
            this.free -= n;
            return;
        }
        await new Promise<void>((go) => this.waiting.push({ n, go }));
    }
    release(n: number): void {
        n = Math.min(n, this.capacity);
        if (n === 0) return;
        this.free += n;
        while (this.waiting.length && this.free >= this.waiting[0].n) {
            const w = this.waiting.shift()!;
            this.free -= w.n;
            w.go();
        }
    }
}

/** At most `n` of the tasks given to `run` at once, FIFO. */
export class Semaphore {
    private active = 0;
    private readonly waiting: Array<() => void> = [];
    constructor(private readonly n: number) {}
    async run<T>(fn: () => Promise<T>): Promise<T> {
        if (this.active >= this.n) await new Promise<void>((r) => this.waiting.push(r));
        else this.active++;
        try {
            return await fn();
        } finally {
            const next = this.waiting.shift();
            if (next) next();
            else this.active--;
        }
    }
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
                    "manifest is written last.\n\n" +
                    `Exit codes: 0 ok, ${EXIT.partial} partial (some objects failed; listed in the manifest, retried next run),\n` +
                    `1 failed (no manifest), 2 usage or config error.`,
            )
            .addOption(new Option("-b, --bucket <name>", "only this bucket (repeatable); other configured buckets are carried over from the previous run").argParser(collect))
            .addOption(new Option("--shard <I/N>", "process shard I of N (hash of bucket/name); default $JOB_COMPLETION_INDEX of $JOB_COMPLETIONS"))
            .addOption(new Option("--merge", "only merge the run's shard manifests into the run manifest (needs --run-id)"))
            .addOption(new Option("--run-id <id>", `run id shared by all shards; default $${RUN_ID_ENV}, else derived from $JOB_NAME, else new`))
            .addOption(new Option("--concurrency <n>", "parallel transfers (default storage.concurrency)").argParser(intFlag(1)))
            .addOption(new Option("--retries <n>", "retries per object, with exponential backoff (default storage.retries)").argParser(intFlag(0)))
            .addOption(new Option("--retry-base-ms <ms>", "first retry's backoff ceiling; doubles per retry").default(500).argParser(intFlag(0)))
            .addOption(new Option("--stall-seconds <s>", "abort and retry a download that sends no byte for this long").default(120).argParser(intFlag(1)))
            .addOption(new Option("--scratch-dir <dir>", "where objects above --memory-threshold are spooled (the pod's emptyDir)").default(tmpdir()))
            .addOption(new Option("--memory-threshold <bytes>", "objects up to this size are buffered in memory, larger ones spooled").default(4 * MiB).argParser(intFlag(0)))
            .addOption(new Option("--multipart-threshold <bytes>", "objects above this size are uploaded in parts (min(64 MiB, this size), at least 5 MiB), SHA256 per part").default(4 * 1024 * MiB).argParser(intFlag(5 * MiB))),
    ).action(
        action("sync-storage", async (o: any) => {
            const ctx = createContext({ config: o.config, command: "sync-storage" });
            const shard = parseShard(o.shard, ctx.env, ctx.config.storage.shards);
            const r = await syncStorage(ctx, {
                buckets: o.bucket,
                shard,
                mergeOnly: !!o.merge,
                runId: o.runId,
                concurrency: o.concurrency,
                retries: o.retries,
                retryBaseMs: o.retryBaseMs,
                stallSeconds: o.stallSeconds,
                scratchDir: o.scratchDir,
                memoryThreshold: o.memoryThreshold,
                multipartThreshold: o.multipartThreshold,
            });
            const summary = {
                runId: r.runId,
                manifest: r.manifestKey ?? null,
                shardManifest: r.shardManifestKey ?? null,
                tier: r.manifest?.tier ?? null,
                stats: r.stats,
                failed: r.failed,
                vanished: r.vanished,
            };
            if (o.json) process.stdout.write(JSON.stringify(summary) + "\n");
            else {
                const s = r.stats;
                process.stdout.write(
                    `sync-storage ${r.runId}: ${s.listed} listed, ${s.copied} copied (${formatBytes(s.bytesUploaded)}), ${s.deduplicated} deduplicated, ` +
                        `${s.skipped} unchanged, ${s.failed} failed${r.vanished.length ? `, ${r.vanished.length} vanished` : ""}\n` +
                        (r.manifestKey ? `manifest: ${r.manifestKey}\n` : `shard manifest: ${r.shardManifestKey} (the last shard merges)\n`) +
                        r.failed.map((f) => `failed: ${f.bucket}/${f.name}: ${f.error}\n`).join(""),
                );
            }
            return r.exitCode;
        }),
    );
}
