// One shard's sync: plan the buckets → merge-compare the previous run's sorted list (this shard's part)
// with the sorted listing of storage.objects (this shard's rows only) → unchanged: reuse the entry
// (extending its blob's lock if needed); changed or new: transfer in the background; gone: dropped, or
// kept when its bucket is carried over → every entry, in order, streamed into the shard's object list.
// Neither the previous run nor this one is held in memory (compare.ts, ordered.ts, vault/object-list.ts).
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { printableName, unsafeObjectName, type ObjectListRef, type StorageManifest, type StorageObject, type StorageShardManifest } from "@supabase-backups/contracts";
import { TaskGroup } from "../../runtime/concurrency";
import type { JobContext } from "../../runtime/context";
import { formatBytes, Progress } from "../../runtime/progress";
import type { SourceObject, StorageCatalog, StorageSource } from "../../supabase/storage-source";
import { ObjectListWriter, storageEntries } from "../../vault/object-list";
import { BucketTotals, compareObjects, shardOf } from "../../vault/storage-runs";
import type { ArchiveCopy } from "./archive-copy";
import { BlobStore } from "./blobs";
import { mergeCompare, type Step } from "./compare";
import { OrderedOutput } from "./ordered";
import { planBuckets, refreshedEntry, withArchiveRecord, withBlob, type BucketPlan } from "./plan";
import { newTally, recordWrite, SYNC_DEFAULTS, Timing, type RunScope, type SyncOptions, type Tally } from "./run";
import { connectCatalog, openSource } from "./source";
import { Transfers, type TransferSettings } from "./transfer";

/** Entries that may wait behind an unfinished transfer before the listing pauses (ordered.ts). */
const ORDER_WINDOW = 10_000;

/** Resident and V8 heap memory now (the bench reads it from the log line: where a large run's memory is). */
function memoryMiB(): { rss: number; heap: number; external: number } {
    const m = process.memoryUsage();
    return { rss: Math.round(m.rss / 1048576), heap: Math.round(m.heapUsed / 1048576), external: Math.round((m.external + m.arrayBuffers) / 1048576) };
}

/** What a step records: nothing, an entry, or the promise of one (boxed: an awaited promise would wait for the transfer). */
interface Slot {
    entry?: StorageObject | Promise<StorageObject | undefined>;
}

/** The shard manifest (its list written) plus what the run manifest needs: bucket totals and names, which were carried. */
export type ShardOutcome = StorageShardManifest & { objectList: ObjectListRef; totals: BucketTotals; bucketNames: string[]; carriedBuckets: string[] };

export interface ShardScope extends RunScope {
    prev?: StorageManifest;
    shardIndex: number;
    /** where this shard's object list goes (the run's own when unsharded) */
    listKey: string;
    /** the Azure copy (archive-copy.ts); absent: S3 only */
    archive?: ArchiveCopy;
}

interface ShardIo {
    catalog: StorageCatalog;
    source: StorageSource;
    progress: Progress;
    byteWise: boolean;
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
    // the listing's order must be the list's: index order when `name` sorts byte-wise, else collate "C"
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
        const byteWise = await catalog.namesSortByteWise();
        const shard = new ShardSync(c, { catalog, source, progress, byteWise }, buckets, settings, opts.multipartThreshold ?? SYNC_DEFAULTS.multipartThreshold);
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
    private readonly blobs: BlobStore;
    /** cancels every download once the run has failed */
    private readonly abort = new AbortController();
    /** transfers and lock extensions in flight: at most 2 × concurrency, the listing waits for room */
    private readonly tasks: TaskGroup;
    private readonly transfers: Transfers;
    private readonly carried: Set<string>;
    private readonly totals = new BucketTotals();
    private objectList: ObjectListRef | undefined;

    constructor(
        private readonly c: ShardScope,
        private readonly io: ShardIo,
        private readonly buckets: BucketPlan,
        settings: TransferSettings,
        multipartThreshold: number,
    ) {
        this.blobs = new BlobStore(c, this.timing, multipartThreshold);
        this.tasks = new TaskGroup(2 * settings.concurrency, () => this.abort.abort());
        const deps = { run: c, source: io.source, catalog: io.catalog, blobs: this.blobs, archive: c.archive, tally: this.tally, timing: this.timing, progress: io.progress, tasks: this.tasks, signal: this.abort.signal };
        this.transfers = new Transfers(deps, settings);
        this.carried = new Set(buckets.carried);
    }

    private inShard(bucket: string, name: string): boolean {
        return shardOf(bucket, name, this.c.shardCount) === this.c.shardIndex;
    }

    /** The previous run's entries of this shard, in order. */
    private async *previous(): AsyncGenerator<StorageObject> {
        const { prev } = this.c;
        if (!prev) return;
        for await (const o of storageEntries(this.c.s3, this.c.vaultBucket, prev)) if (this.inShard(o.bucket, o.name)) yield o;
    }

    /** This shard's rows of the buckets to sync, in order (the database filters by shard; checked here). */
    private async *listing(): AsyncGenerator<SourceObject> {
        const shard = { index: this.c.shardIndex, count: this.c.shardCount };
        for (const b of this.buckets.toSync) {
            let t0 = performance.now();
            for await (const page of this.io.catalog.listBucket(b, { shard, byteWise: this.io.byteWise })) {
                this.timing.ms.listSource += performance.now() - t0;
                for (const o of page) {
                    if (shard.count > 1 && !this.inShard(o.bucket, o.name)) throw new Error(`the database put ${o.bucket}/${printableName(o.name)} in shard ${shard.index}/${shard.count}; sha256 says ${shardOf(o.bucket, o.name, shard.count)}`);
                    yield o;
                }
                t0 = performance.now();
            }
        }
    }

    /** Merge-compare and transfer; every entry into the object list; throws the first failure that stops the run. */
    async run(): Promise<void> {
        const { c } = this;
        const writer = new ObjectListWriter(c.s3, c.cfg.vault, recordWrite(c.cfg, c.listKey, c.tier, c.retain), { env: c.env, runId: c.runId, ...(c.shardCount > 1 ? { shard: `${c.shardIndex}/${c.shardCount}` } : {}) });
        const out = new OrderedOutput<StorageObject>((o) => this.write(writer, o), ORDER_WINDOW);
        try {
            for await (const step of mergeCompare(this.previous(), this.listing())) {
                if (this.tasks.failed) break;
                await out.push((await this.visit(step)).entry);
            }
            c.log.debug({ phase: "listing done", listed: this.tally.stats.listed }, "phase");
            await this.tasks.settle();
            await out.finish();
            this.objectList = await writer.close();
            c.log.debug({ phase: "transfers done" }, "phase");
        } catch (e) {
            this.abort.abort();
            writer.abort(e instanceof Error ? e : new Error(String(e)));
            await this.tasks.settle().catch(() => undefined);
            throw e;
        }
    }

    private write(writer: ObjectListWriter, o: StorageObject): Promise<void> {
        this.totals.add(o);
        return writer.add(o);
    }

    /** One step of the comparison → what to record (now, or once its transfer / lock extension is done). */
    private async visit(step: Step): Promise<Slot> {
        if (step.kind === "gone") {
            // Carried buckets' blobs are referenced by this run too: their locks must reach its retain-until.
            return this.carried.has(step.prev.bucket) ? this.kept(step.prev, step.prev) : {};
        }
        const o = step.cur;
        this.tally.stats.listed++;
        if (this.isUnsafe(o)) return {};
        if (step.kind === "unchanged") {
            this.tally.stats.skipped++;
            return this.kept(step.prev, refreshedEntry(step.prev, o), o);
        }
        await this.tasks.room();
        const t = this.transfers.sync(o, step.kind === "changed" ? step.prev : undefined);
        this.tasks.launch(t.then(() => undefined));
        return { entry: t };
    }

    /**
     * A previous entry recorded without a transfer: extend its blob's lock when needed, and its archive
     * copy's (or, for an unchanged object whose blob is not in the archive yet, fetch it again to copy
     * it: `cur`); bounded like the transfers.
     */
    private async kept(prev: StorageObject, entry: StorageObject, cur?: SourceObject): Promise<Slot> {
        const lock = this.blobs.keep(prev);
        const a = this.c.archive;
        const archived = a?.keep(prev, cur ? (use) => this.transfers.withBytes(cur, use) : undefined);
        const finish = (l: string | undefined, r: StorageObject["archive"]) => {
            const e = withBlob(entry, l, prev.versionId);
            return a?.enabled ? withArchiveRecord(e, r) : e;
        };
        if (!(lock instanceof Promise) && !(archived instanceof Promise)) return { entry: finish(lock, archived) };
        await this.tasks.room();
        const both = Promise.all([lock, archived]).then(([l, r]) => finish(l, r));
        this.tasks.launch(both.then(() => undefined));
        return { entry: both };
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

    outcome(startedAt: string): ShardOutcome {
        const { c, tally } = this;
        tally.failed.sort(compareObjects);
        tally.vanished.sort(compareObjects);
        tally.unsafe.sort(compareObjects);
        this.io.progress.stop();
        c.log.info(
            { ...tally.stats, bytes: formatBytes(tally.stats.bytesUploaded), timingMs: this.timing.rounded(), memoryMiB: memoryMiB(), tier: c.tier, shard: `${c.shardIndex}/${c.shardCount}`, vanished: tally.vanished.length, unsafe: tally.unsafe.length },
            `sync-storage: ${tally.stats.copied} copied, ${tally.stats.deduplicated} deduplicated, ${tally.stats.skipped} unchanged, ${tally.stats.failed} failed`,
        );
        return {
            schemaVersion: 2,
            kind: "storage-shard",
            env: c.env,
            runId: c.runId,
            shard: { index: c.shardIndex, count: c.shardCount },
            startedAt,
            finishedAt: new Date().toISOString(),
            objectList: this.objectList!,
            failed: tally.failed,
            vanished: tally.vanished,
            ...(tally.unsafe.length ? { unsafe: tally.unsafe } : {}),
            stats: tally.stats,
            ...(c.archive?.enabled ? { archive: c.archive.summary(this.totals.unarchived) } : {}),
            totals: this.totals,
            bucketNames: this.buckets.configured.map((b) => b.name),
            carriedBuckets: this.buckets.carried,
        };
    }
}
