// The run manifest, written LAST: the run is complete iff it exists. Unsharded, from the one shard's
// outcome (linked to the newest complete run); sharded, by whichever shard finds every shard manifest
// present (the last one to finish).
import {
    newRunId,
    storageRunManifestKey,
    type StorageManifest,
    type StorageObject,
    type StorageShardManifest,
} from "@supabase-backups/contracts";
import { listCompleteRuns, loadManifest, type LoadedManifest } from "../../vault/runs";
import { getJson, putRecordOnce } from "../../vault/s3";
import { bucketSummary, compareObjects, listShardManifests, mergeShards } from "../../vault/storage-runs";
import { runArchive } from "./archive-copy";
import { recordWrite, vaultOp, type RunScope } from "./run";
import type { ShardOutcome } from "./shard";
import type { BucketFacts } from "./source";

export interface WrittenManifest {
    manifest: StorageManifest;
    key: string;
}

type ManifestBody = Pick<StorageManifest, "runId" | "startedAt" | "shards" | "buckets" | "objects" | "failed" | "vanished" | "unsafe" | "stats" | "archive"> & { facts?: BucketFacts };

/** The run manifest of `c` (fields in the order every writer uses: the record is serialized as built). */
function runManifest(c: RunScope, b: ManifestBody, previous: LoadedManifest<StorageManifest> | undefined): StorageManifest {
    return {
        schemaVersion: 1,
        kind: "storage",
        env: c.env,
        runId: b.runId,
        startedAt: b.startedAt,
        finishedAt: new Date().toISOString(),
        mode: c.cfg.storage.mode,
        shards: b.shards,
        tier: c.tier,
        retainUntil: c.retain.toISOString(),
        buckets: b.facts ? b.buckets.map((x) => (b.facts!.settings.has(x.name) ? { ...x, settings: b.facts!.settings.get(x.name)! } : x)) : b.buckets,
        ...(b.facts ? { policies: b.facts.policies } : {}),
        objects: b.objects,
        failed: b.failed,
        vanished: b.vanished,
        ...(b.unsafe?.length ? { unsafe: b.unsafe } : {}),
        stats: b.stats,
        ...(b.archive ? { archive: b.archive } : {}),
        previous: previous ? { runId: previous.ref.runId, sha256: previous.sha256 } : null,
    };
}

async function putManifest(c: RunScope, manifest: StorageManifest): Promise<WrittenManifest> {
    const key = storageRunManifestKey(c.env, manifest.runId);
    await vaultOp("write manifest", () => putRecordOnce(c.s3, c.cfg.vault, recordWrite(c.cfg, key, c.tier, c.retain), manifest));
    return { manifest, key };
}

/**
 * Unsharded: another run may have completed while this one ran (a per-bucket CronJob firing at the same
 * time): link to the newest complete run, not the one seen at the start, so the hash chain stays linear,
 * and take the buckets this run did not sync from that newer state.
 */
export async function writeLinkedManifest(c: RunScope, shard: ShardOutcome, prev: LoadedManifest<StorageManifest> | undefined): Promise<WrittenManifest> {
    let runId = c.runId;
    let previous = prev;
    let objects: StorageObject[] = shard.objects;
    const latest = await vaultOp("list runs", () => listCompleteRuns(c.s3, c.vaultBucket, c.env, "storage"));
    const newest = latest[latest.length - 1];
    if (newest && newest.runId !== prev?.ref.runId) {
        previous = await vaultOp("read newest manifest", () => loadManifest<StorageManifest>(c.s3, c.vaultBucket, newest));
        const carried = new Set(shard.carriedBuckets);
        objects = [...objects.filter((o) => !carried.has(o.bucket)), ...previous.manifest.objects.filter((o) => carried.has(o.bucket))].sort(compareObjects);
        // A run that started later but finished first sorts after this one's id: take a new id (now) so
        // run order = chain order.
        if (newest.runId > c.runId) runId = newRunId(new Date());
        c.log.warn({ runId: c.runId, finalRunId: runId, completedMeanwhile: newest.runId }, "another sync-storage run completed during this one: linking to it");
    }
    const body: ManifestBody = {
        runId,
        startedAt: shard.startedAt,
        shards: 1,
        buckets: bucketSummary(objects, shard.bucketNames),
        objects,
        failed: shard.failed,
        vanished: shard.vanished,
        unsafe: shard.unsafe,
        stats: shard.stats,
        archive: runArchive([shard.archive], objects),
        facts: await c.bucketFacts(),
    };
    return putManifest(c, runManifest(c, body, previous));
}

/** Merge when every shard manifest exists; undefined when some are missing. */
export async function mergeRun(c: RunScope, bucketNames: () => Promise<string[]>): Promise<WrittenManifest | undefined> {
    const present = await vaultOp("list shard manifests", () => listShardManifests(c.s3, c.vaultBucket, c.env, c.runId));
    const mine = [...present.entries()].filter(([, v]) => v.count === c.shardCount);
    if (mine.length < c.shardCount) {
        c.log.info({ runId: c.runId, present: mine.length, shards: c.shardCount }, "not every shard is done; the last one merges");
        return undefined;
    }
    const shards = await vaultOp("read shard manifests", () => Promise.all(mine.map(([, v]) => getJson<StorageShardManifest>(c.s3, c.vaultBucket, v.key).then((r) => r.value))));
    const m = mergeShards(shards, c.shardCount);
    const prev = c.prevRef ? await vaultOp("read previous manifest", () => loadManifest<StorageManifest>(c.s3, c.vaultBucket, c.prevRef!)) : undefined;
    const body: ManifestBody = {
        runId: c.runId,
        startedAt: m.startedAt,
        shards: c.shardCount,
        // every configured bucket, empty ones included, as an unsharded run lists them
        buckets: bucketSummary(m.objects, await bucketNames()),
        objects: m.objects,
        failed: m.failed,
        vanished: m.vanished,
        unsafe: m.unsafe,
        stats: m.stats,
        archive: runArchive(shards.map((x) => x.archive), m.objects),
        facts: await c.bucketFacts(),
    };
    const written = await putManifest(c, runManifest(c, body, prev));
    c.log.info({ runId: c.runId, shards: c.shardCount, objects: written.manifest.objects.length }, "run manifest written (shards merged)");
    return written;
}
