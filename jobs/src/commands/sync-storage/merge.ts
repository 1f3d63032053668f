// The run manifest, written LAST: the run is complete iff it exists. Unsharded, from the one shard's
// outcome (linked to the newest complete run); sharded, by whichever shard finds every shard manifest
// present (the last one to finish).
import {
    newRunId,
    storageObjectListKey,
    storageRunManifestKey,
    STORAGE_MANIFEST_SCHEMA_VERSION,
    type ObjectListRef,
    type StorageManifest,
    type StorageObject,
    type StorageShardManifest,
} from "@supabase-backups/contracts";
import { listCompleteRuns, loadManifest, type LoadedManifest } from "../../vault/runs";
import { getJson, putRecordOnce } from "../../vault/s3";
import { mergeSorted, ObjectListWriter, storageEntries } from "../../vault/object-list";
import { BucketTotals, listShardManifests, mergeShards } from "../../vault/storage-runs";
import { runArchive } from "./archive-copy";
import { recordWrite, vaultOp, type RunScope } from "./run";
import type { ShardOutcome } from "./shard";
import type { BucketFacts } from "./source";

export interface WrittenManifest {
    manifest: StorageManifest;
    key: string;
}

type ManifestBody = Pick<StorageManifest, "runId" | "startedAt" | "shards" | "buckets" | "failed" | "vanished" | "unsafe" | "stats" | "archive"> & { objectList: ObjectListRef; facts?: BucketFacts };

/** The run manifest of `c` (fields in the order every writer uses: the record is serialized as built). */
function runManifest(c: RunScope, b: ManifestBody, previous: LoadedManifest<StorageManifest> | undefined): StorageManifest {
    return {
        schemaVersion: STORAGE_MANIFEST_SCHEMA_VERSION,
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
        objectList: b.objectList,
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

/** Stream sorted entries into the run's object list (key `variant`: a second list of the same run id), counting bucket totals. */
async function writeRunList(c: RunScope, runId: string, entries: AsyncIterable<StorageObject>, variant?: string): Promise<{ ref: ObjectListRef; totals: BucketTotals }> {
    const key = storageObjectListKey(c.env, runId, variant);
    const writer = new ObjectListWriter(c.s3, c.cfg.vault, recordWrite(c.cfg, key, c.tier, c.retain), { env: c.env, runId });
    const totals = new BucketTotals();
    try {
        for await (const o of entries) {
            totals.add(o);
            await writer.add(o);
        }
        return { ref: await vaultOp("write object list", () => writer.close()), totals };
    } catch (e) {
        writer.abort(e instanceof Error ? e : new Error(String(e)));
        throw e;
    }
}

/** This run's entries outside `carried`, and `other`'s entries inside it, in order. */
async function* relinked(c: RunScope, own: StorageManifest, other: StorageManifest, carried: Set<string>): AsyncGenerator<StorageObject> {
    const filter = async function* (it: AsyncIterable<StorageObject>, keep: (o: StorageObject) => boolean) {
        for await (const o of it) if (keep(o)) yield o;
    };
    yield* mergeSorted([
        filter(storageEntries(c.s3, c.vaultBucket, own), (o) => !carried.has(o.bucket)),
        filter(storageEntries(c.s3, c.vaultBucket, other), (o) => carried.has(o.bucket)),
    ]);
}

/**
 * Unsharded: another run may have completed while this one ran (a per-bucket CronJob firing at the same
 * time): link to the newest complete run, not the one seen at the start, so the hash chain stays linear,
 * and take the buckets this run did not sync from that newer state (a second list, streamed from both).
 */
export async function writeLinkedManifest(c: RunScope, shard: ShardOutcome, prev: LoadedManifest<StorageManifest> | undefined): Promise<WrittenManifest> {
    let runId = c.runId;
    let previous = prev;
    let objectList = shard.objectList;
    let totals = shard.totals;
    const latest = await vaultOp("list runs", () => listCompleteRuns(c.s3, c.vaultBucket, c.env, "storage"));
    const newest = latest[latest.length - 1];
    if (newest && newest.runId !== prev?.ref.runId) {
        const other = await vaultOp("read newest manifest", () => loadManifest<StorageManifest>(c.s3, c.vaultBucket, newest));
        previous = other;
        // A run that started later but finished first sorts after this one's id: take a new id (now) so
        // run order = chain order.
        if (newest.runId > c.runId) runId = newRunId(new Date());
        c.log.warn({ runId: c.runId, finalRunId: runId, completedMeanwhile: newest.runId }, "another sync-storage run completed during this one: linking to it");
        const own = { env: c.env, runId: c.runId, objectList: shard.objectList } as StorageManifest;
        const list = await vaultOp("relink object list", () => writeRunList(c, runId, relinked(c, own, other.manifest, new Set(shard.carriedBuckets)), runId === c.runId ? "relinked" : undefined));
        objectList = list.ref;
        totals = list.totals;
    }
    const body: ManifestBody = {
        runId,
        startedAt: shard.startedAt,
        shards: 1,
        buckets: totals.summary(shard.bucketNames),
        objectList,
        failed: shard.failed,
        vanished: shard.vanished,
        unsafe: shard.unsafe,
        stats: shard.stats,
        archive: runArchive([shard.archive], totals.unarchived),
        facts: await c.bucketFacts(),
    };
    return putManifest(c, runManifest(c, body, previous));
}

/** Merge when every shard manifest exists (their object lists as one sorted stream); undefined when some are missing. */
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
    const list = await vaultOp("merge shard object lists", () => writeRunList(c, c.runId, mergeSorted(shards.map((s) => storageEntries(c.s3, c.vaultBucket, s)))));
    const body: ManifestBody = {
        runId: c.runId,
        startedAt: m.startedAt,
        shards: c.shardCount,
        // every configured bucket, empty ones included, as an unsharded run lists them
        buckets: list.totals.summary(await bucketNames()),
        objectList: list.ref,
        failed: m.failed,
        vanished: m.vanished,
        unsafe: m.unsafe,
        stats: m.stats,
        archive: runArchive(shards.map((x) => x.archive), list.totals.unarchived),
        facts: await c.bucketFacts(),
    };
    const written = await putManifest(c, runManifest(c, body, prev));
    c.log.info({ runId: c.runId, shards: c.shardCount, objects: list.ref.count }, "run manifest written (shards merged)");
    return written;
}
