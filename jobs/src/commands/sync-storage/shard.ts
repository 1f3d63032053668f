// One shard's sync: plan the buckets → list each (SQL) → unchanged since the previous complete run?
// reuse its entry (extending its blob's lock if needed) → otherwise transfer it in the background →
// wait for the transfers → the shard's manifest content (written by the engine).
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { printableName, unsafeObjectName, type StorageManifest, type StorageObject, type StorageShardManifest } from "@supabase-backups/contracts";
import { TaskGroup } from "../../runtime/concurrency";
import type { JobContext } from "../../runtime/context";
import { formatBytes, Progress } from "../../runtime/progress";
import type { SourceObject, StorageCatalog, StorageSource } from "../../supabase/storage-source";
import { compareObjects, objectKey, shardOf } from "../../vault/storage-runs";
import type { ArchiveCopy } from "./archive-copy";
import { BlobStore } from "./blobs";
import { carriedEntries, indexPrevious, isUnchanged, planBuckets, refreshedEntry, withBlobVersions, withLockEnds, type BucketPlan, type PreviousIndex } from "./plan";
import { newTally, SYNC_DEFAULTS, Timing, type RunScope, type SyncOptions, type Tally } from "./run";
import { connectCatalog, openSource } from "./source";
import { Transfers, type TransferSettings } from "./transfer";

/** The shard manifest plus what only the unsharded path needs (the buckets' names, which were carried). */
export type ShardOutcome = StorageShardManifest & { bucketNames: string[]; carriedBuckets: string[] };

export interface ShardScope extends RunScope {
    prev?: StorageManifest;
    shardIndex: number;
    /** the Azure copy (archive-copy.ts); absent: S3 only */
    archive?: ArchiveCopy;
}

interface ShardIo {
    catalog: StorageCatalog;
    source: StorageSource;
    progress: Progress;
}

function transferSettings(opts: SyncOptions, c: ShardScope): TransferSettings {
    return {
        concurrency: opts.concurrency ?? c.cfg.storage.concurrency,
        retries: opts.retries ?? c.cfg.storage.retries,
        retryBaseMs: opts.retryBaseMs ?? SYNC_DEFAULTS.retryBaseMs,
        memoryThreshold: opts.memoryThreshold ?? SYNC_DEFAULTS.memoryThreshold,
        stallMs: (opts.stallSeconds ?? SYNC_DEFAULTS.stallSeconds) * 1000,
        // a directory of its own, removed when the shard ends
        scratch: join(opts.scratchDir ?? tmpdir(), `sync-storage-${c.runId}-${c.shardIndex}-${randomBytes(3).toString("hex")}`),
    };
}

export async function syncShard(ctx: JobContext, opts: SyncOptions, c: ShardScope): Promise<ShardOutcome> {
    const settings = transferSettings(opts, c);
    const startedAt = new Date().toISOString();
    const catalog = await connectCatalog(ctx);
    let source: ReturnType<typeof openSource> | undefined;
    try {
        // a source that cannot open (s3 mode without keys) or no scratch: the catalog's connection still closes
        source = openSource(ctx, settings.concurrency);
        await mkdir(settings.scratch, { recursive: true });
    } catch (e) {
        source?.close();
        await catalog.close();
        throw e;
    }
    const progress = new Progress("sync-storage", c.log).start();
    try {
        const buckets = planBuckets(await catalog.bucketNames(), c.cfg.storage.buckets, opts.buckets);
        const shard = new ShardSync(c, { catalog, source, progress }, buckets, settings, opts.multipartThreshold ?? SYNC_DEFAULTS.multipartThreshold);
        await shard.run();
        return shard.outcome(startedAt);
    } finally {
        progress.stop();
        source.close();
        await catalog.close();
        await rm(settings.scratch, { recursive: true, force: true });
    }
}

/** The state of one shard's sync: what it recorded so far, its blobs, its background transfers. */
class ShardSync {
    private readonly tally: Tally = newTally();
    private readonly timing = new Timing();
    private readonly prev: PreviousIndex;
    private readonly blobs: BlobStore;
    /** cancels every download once the run has failed */
    private readonly abort = new AbortController();
    /** transfers and lock extensions in flight: at most 2 × concurrency, the listing waits for room */
    private readonly tasks: TaskGroup;
    private readonly transfers: Transfers;
    private readonly concurrency: number;

    constructor(
        private readonly c: ShardScope,
        private readonly io: ShardIo,
        private readonly buckets: BucketPlan,
        settings: TransferSettings,
        multipartThreshold: number,
    ) {
        this.prev = indexPrevious(c.prev);
        this.blobs = new BlobStore(c, this.prev, this.timing, multipartThreshold);
        this.tasks = new TaskGroup(2 * settings.concurrency, () => this.abort.abort());
        const deps = { run: c, source: io.source, catalog: io.catalog, blobs: this.blobs, archive: c.archive, tally: this.tally, timing: this.timing, progress: io.progress, tasks: this.tasks, signal: this.abort.signal };
        this.transfers = new Transfers(deps, settings);
        this.concurrency = settings.concurrency;
        for (const o of carriedEntries(c.prev, buckets.carried, (b, n) => this.inShard(b, n))) this.tally.objects.push(o);
    }

    private inShard(bucket: string, name: string): boolean {
        return shardOf(bucket, name, this.c.shardCount) === this.c.shardIndex;
    }

    /** List and transfer; throws the first failure that stops the run (after the others settled). */
    async run(): Promise<void> {
        await this.listBuckets();
        await this.lockCarried();
        this.c.log.debug({ phase: "listing done", listed: this.tally.stats.listed }, "phase");
        await this.tasks.settle();
        this.c.log.debug({ phase: "transfers done" }, "phase");
        await this.c.archive?.extendLocks(this.tally.objects, this.concurrency);
    }

    private async listBuckets(): Promise<void> {
        for (const b of this.buckets.toSync) {
            for await (const page of this.io.catalog.listBucket(b)) {
                for (const o of page) {
                    if (this.tasks.failed) break;
                    await this.visit(o);
                }
                if (this.tasks.failed) break;
            }
            if (this.tasks.failed) break;
        }
    }

    private async visit(o: SourceObject): Promise<void> {
        if (!this.inShard(o.bucket, o.name)) return;
        this.tally.stats.listed++;
        if (this.isUnsafe(o)) return;
        const p = this.prev.entries.get(objectKey(o.bucket, o.name));
        if (isUnchanged(p, o)) {
            this.tally.objects.push(refreshedEntry(p, o));
            this.tally.stats.skipped++;
            await this.ensureLock(p.blobKey);
            await this.catchUpArchive(p, o);
            return;
        }
        await this.tasks.room();
        this.tasks.launch(this.transfers.sync(o));
    }

    /**
     * A name that could address another object or path is never downloaded or recorded as an object:
     * it is listed under `unsafe` (printable) and counted, and the run ends partial (docs/security.md
     * "Hostile object names").
     */
    private isUnsafe(o: SourceObject): boolean {
        const bad = unsafeObjectName(o.name);
        if (!bad) return false;
        const name = printableName(o.name);
        this.tally.unsafe.push({ bucket: o.bucket, name, reason: bad.reason });
        this.c.log.warn({ bucket: o.bucket, name, reason: bad.reason }, `not syncing ${o.bucket}/${name}: ${bad.detail}`);
        return true;
    }

    /** An unchanged object whose blob is not in the Azure archive yet: fetched again and copied (bounded like the transfers). */
    private async catchUpArchive(p: StorageObject, o: SourceObject): Promise<void> {
        const a = this.c.archive;
        if (!a?.needsCatchUp(p.blobKey)) return;
        await this.tasks.room();
        this.tasks.launch(a.catchUp(p, (use) => this.transfers.withBytes(o, use)));
    }

    /** Carried buckets' blobs are referenced by this run too: their locks must reach its retain-until. */
    private async lockCarried(): Promise<void> {
        for (const o of this.tally.objects) {
            if (this.tasks.failed) break;
            if (this.buckets.carried.includes(o.bucket)) await this.ensureLock(o.blobKey);
        }
    }

    /** A blob of the previous manifest referenced without a transfer: extend its lock if it ends before `retain` (bounded like the transfers). */
    private async ensureLock(key: string): Promise<void> {
        if (!this.blobs.needsExtension(key)) return;
        await this.tasks.room();
        this.tasks.launch(this.blobs.extendRetention(key, true));
    }

    outcome(startedAt: string): ShardOutcome {
        const { c, tally } = this;
        const locked = withLockEnds(tally.objects, (key) => this.blobs.lockEnd(key));
        const versioned = withBlobVersions(locked, (key) => this.blobs.versionOf(key));
        const objects = (c.archive?.withArchive(versioned) ?? versioned).sort(compareObjects);
        const archive = c.archive?.summary(objects);
        tally.failed.sort(compareObjects);
        tally.vanished.sort(compareObjects);
        tally.unsafe.sort(compareObjects);
        this.io.progress.stop();
        c.log.info(
            { ...tally.stats, bytes: formatBytes(tally.stats.bytesUploaded), timingMs: this.timing.rounded(), tier: c.tier, shard: `${c.shardIndex}/${c.shardCount}`, vanished: tally.vanished.length, unsafe: tally.unsafe.length },
            `sync-storage: ${tally.stats.copied} copied, ${tally.stats.deduplicated} deduplicated, ${tally.stats.skipped} unchanged, ${tally.stats.failed} failed`,
        );
        return {
            schemaVersion: 1,
            kind: "storage-shard",
            env: c.env,
            runId: c.runId,
            shard: { index: c.shardIndex, count: c.shardCount },
            startedAt,
            finishedAt: new Date().toISOString(),
            objects,
            failed: tally.failed,
            vanished: tally.vanished,
            ...(tally.unsafe.length ? { unsafe: tally.unsafe } : {}),
            stats: tally.stats,
            ...(archive ? { archive } : {}),
            bucketNames: this.buckets.configured.map((b) => b.name),
            carriedBuckets: this.buckets.carried,
        };
    }
}
