// What every step of a sync-storage run shares: its options and result, the run's scope (who, where,
// which tier), the vault error that ends a run, and the per-shard tally and timings.
import type { S3Client } from "@aws-sdk/client-s3";
import type { ExitCode, JobConfig, StorageManifest, StorageShardManifest, Tier } from "@supabase-backups/contracts";
import type { JobContext } from "../../runtime/context";
import { errorMessage, httpStatusOf } from "../../runtime/errors";
import type { RunRef } from "../../vault/runs";
import type { RecordWrite } from "../../vault/s3";
import type { BucketFacts } from "./source";
import { runTierTag } from "./tier";

/** Env: the run id all shards of one Indexed Job share (else derived from JOB_NAME, see resolveRunId). */
export const RUN_ID_ENV = "SUPABASE_BACKUPS_RUN_ID";

export const MiB = 1024 * 1024;

/**
 * Blobs are locked to the run's retain-until plus this slack, on upload and when a run extends a lock
 * that ends before its own retain-until. The slack amortizes the PutObjectRetention requests: a blob
 * referenced night after night by daily runs is re-extended about once a month instead of every night
 * (at the price of keeping it up to this much longer).
 */
export const LOCK_SLACK_DAYS = 30;
export const LOCK_SLACK_MS = LOCK_SLACK_DAYS * 86_400_000;

/** Defaults of the flags (the CLI shows them in --help, the engine falls back to them). */
export const SYNC_DEFAULTS = {
    retryBaseMs: 500,
    stallSeconds: 120,
    memoryThreshold: 4 * MiB,
    multipartThreshold: 4 * 1024 * MiB,
} as const;

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
    unsafe: NonNullable<StorageManifest["unsafe"]>;
}

/** One run as every step sees it, fixed once the tier is chosen. */
export interface RunScope {
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
    /** the buckets' settings and storage.objects' policies, for the run manifest (undefined: unreadable) */
    bucketFacts: () => Promise<BucketFacts | undefined>;
}

/** The vault refused or could not be reached: fatal for the run (no manifest is written). */
export class VaultError extends Error {}

/** Run a vault operation; any failure becomes a VaultError naming the operation and the HTTP status. */
export async function vaultOp<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
        return await fn();
    } catch (e: any) {
        if (e instanceof VaultError) throw e;
        const status = httpStatusOf(e);
        const head = `${e?.name ?? "error"}${status ? ` (HTTP ${status})` : ""}`;
        const detail = errorMessage(e);
        // errorMessage already says "Code (HTTP n)" when the server sent no message: not twice
        throw Object.assign(new VaultError(`vault ${what}: ${detail.startsWith(head) ? detail : `${head}: ${detail}`}`), { status, code: e?.name });
    }
}

/** Manifests: locked like the run, tagged with its tier's lifecycle class (lifecycle expires them with it). */
export function recordWrite(cfg: JobConfig, key: string, tier: Tier, retain: Date): RecordWrite {
    return { key, tags: { tier: runTierTag(tier, cfg), env: cfg.env, kind: "sync-storage" }, retainUntil: retain };
}

/** What one shard records besides its entries (streamed to its object list): failures, vanished objects and counters. */
export interface Tally {
    failed: StorageShardManifest["failed"];
    vanished: NonNullable<StorageShardManifest["vanished"]>;
    /** listed but not synced: names that could address another object or path */
    unsafe: NonNullable<StorageShardManifest["unsafe"]>;
    stats: StorageShardManifest["stats"];
}

export function newTally(): Tally {
    return { failed: [], vanished: [], unsafe: [], stats: { listed: 0, copied: 0, skipped: 0, deduplicated: 0, failed: 0, bytesUploaded: 0 } };
}

/** Summed wall time per operation kind (ms), logged at the end: where a slow run spends it. */
export class Timing {
    readonly ms = { listSource: 0, download: 0, exists: 0, upload: 0 };

    async time<T>(k: keyof Timing["ms"], fn: () => Promise<T>): Promise<T> {
        const t0 = performance.now();
        try {
            return await fn();
        } finally {
            this.ms[k] += performance.now() - t0;
        }
    }

    rounded(): Record<string, number> {
        return Object.fromEntries(Object.entries(this.ms).map(([k, v]) => [k, Math.round(v)]));
    }
}
