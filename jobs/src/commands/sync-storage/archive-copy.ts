// The Azure archive copy of a sync-storage run (docs/architecture.md "Vault layout"): every blob the
// run references goes to the archive container under the same content-addressed key as in S3, create-
// only (`If-None-Match: *`), tagged like its S3 twin and under a Locked immutability policy until the
// same lock target. The S3 copy is the primary: an Azure failure never fails the run, it marks the
// archive degraded (exit code and metric "degraded"), stops further Azure writes for this run, and
// leaves the entries without an `archive` record, so the next run copies them.
//
// What is in the archive is known from each previous entry's `archive` record (the writer may not list
// or read Azure), so an incremental run sends nothing for blobs already there. Entries are handled one
// at a time as the run streams them (no index of the previous run): three ways a blob gets there: (1)
// right after its S3 store, from the same verified bytes (`copy`); (2) an unchanged object whose entry
// has no record (an earlier degraded run, or the archive was switched on later) is downloaded again from
// the source and checked against its sha256 (`keep` with a refetch); (3) entries of carried buckets
// cannot be fetched this run and stay missing until their bucket is synced. Records this run made are
// remembered for the last RECENT blobs (dedup without a set of every blob).
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import type { BlockBlobClient, ContainerClient } from "@azure/storage-blob";
import type { JobConfig, ObjectListRef, StorageArchive, StorageManifest, StorageObject, TierTag } from "@supabase-backups/contracts";
import { errorMessage } from "../../runtime/errors";
import { archiveWriteOptions, createArchiveClient, isArchiveConflict, isNoImmutabilityApi, putArchiveRecord } from "../../vault/archive";
import type { Fetched } from "./download";
import { lockCovers } from "./plan";
import { RecentBlobs } from "./recent";
import type { RunScope } from "./run";

type ArchiveBlob = NonNullable<StorageObject["archive"]>;

/** Archive copies on, per config: an archive target (azure.enabled), not switched off for storage. */
export function archiveEnabled(cfg: JobConfig): cfg is JobConfig & { archive: NonNullable<JobConfig["archive"]> } {
    return !!cfg.archive && cfg.azure?.enabled !== false && cfg.storage.archive !== false;
}

/** How many of this run's blob records are remembered. */
const RECENT = 50_000;

const BLOCK_SIZE = 8 * 1024 * 1024;

export class ArchiveCopy {
    /** records this run made (copies, extensions), oldest first, bounded */
    private readonly recent: RecentBlobs<ArchiveBlob>;
    /** the lock end this run sets, one string for every record */
    private readonly lockTargetIso: string;
    private readonly inflight = new Map<string, Promise<ArchiveBlob | undefined>>();
    private readonly extending = new Map<string, Promise<ArchiveBlob>>();
    /** the first lock extension runs alone: a store without the API answers it, and no more are tried */
    private firstExtension?: Promise<unknown>;
    private copied = 0;
    private failure?: string;
    private noImmutabilityApi = false;

    private constructor(
        private readonly run: Pick<RunScope, "env" | "log" | "retain">,
        private readonly client: ContainerClient | undefined,
        readonly container: string | undefined,
        private readonly lockTarget: Date,
    ) {
        this.recent = new RecentBlobs(run.env, RECENT);
        this.lockTargetIso = lockTarget.toISOString();
    }

    /** Off (no archive configured): every method is a no-op and the manifest gets no `archive`. */
    static async open(run: Pick<RunScope, "env" | "log" | "retain" | "cfg">, lockTarget: Date, env: NodeJS.ProcessEnv): Promise<ArchiveCopy> {
        if (!archiveEnabled(run.cfg)) return new ArchiveCopy(run, undefined, undefined, lockTarget);
        const a = run.cfg.archive;
        try {
            const client = await createArchiveClient(a, env, { retryOptions: { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4000, tryTimeoutInMs: 120_000 } });
            return new ArchiveCopy(run, client, a.container, lockTarget);
        } catch (e) {
            const c = new ArchiveCopy(run, undefined, a.container, lockTarget);
            c.fail(`cannot create the Azure client: ${errorMessage(e)}`);
            return c;
        }
    }

    get enabled(): boolean {
        return this.container !== undefined;
    }

    private get live(): ContainerClient | undefined {
        return this.failure ? undefined : this.client;
    }

    private fail(error: string): void {
        if (this.failure) return;
        this.failure = error;
        this.run.log.warn({ err: error }, "Azure archive copy failed; the run completes on S3 only (degraded), the next run copies what is missing");
    }

    private remember(key: string, rec: ArchiveBlob): ArchiveBlob {
        return this.recent.set(key, rec);
    }

    /**
     * Copy the verified bytes of a blob just stored in S3 (`prev`: the object's previous entry, whose
     * record holds when the content is the same blob); the entry's record. Never throws: a failure
     * degrades the archive.
     */
    copy(key: string, f: Fetched, prev?: StorageObject): Promise<ArchiveBlob | undefined> {
        if (!this.enabled) return Promise.resolve(undefined);
        const known = this.recent.get(key) ?? (prev?.blobKey === key ? prev.archive : undefined);
        if (known) return Promise.resolve(this.covering(key, known));
        if (!this.live) return Promise.resolve(undefined);
        let p = this.inflight.get(key);
        if (!p) {
            p = this.put(key, f).finally(() => this.inflight.delete(key));
            this.inflight.set(key, p);
        }
        return p;
    }

    private async put(key: string, f: Fetched): Promise<ArchiveBlob | undefined> {
        const blob = this.live!.getBlockBlobClient(key);
        const options = archiveWriteOptions({ key, contentType: "application/octet-stream", tags: { env: this.run.env, kind: "sync-storage", content: "blob" }, retainUntil: this.lockTarget });
        try {
            const r = f.buffer
                ? await blob.upload(f.buffer, f.size, options)
                : // staged blocks, one commit; the policy, tags and condition ride on the commit (as dump does)
                  await blob.uploadStream(createReadStream(f.file!), BLOCK_SIZE, 2, options as Parameters<typeof blob.uploadStream>[3]);
            this.copied++;
            return this.remember(key, { ...(r.versionId ? { versionId: r.versionId } : {}), lockedUntil: this.lockTargetIso });
        } catch (e) {
            // Already there (a run that failed before its manifest, or another shard): content-addressed,
            // so the same bytes; its lock is unknown until this run extends it.
            if (isArchiveConflict(e)) return this.covering(key, {});
            this.fail(`${key}: ${errorMessage(e)}`);
            return undefined;
        }
    }

    /**
     * A previous entry kept without a transfer (unchanged, or a carried bucket's): its record, its lock
     * extended when needed; without one, `refetch` (unchanged objects only) downloads the object again
     * (verified bytes to `use`) to copy it. Never throws.
     */
    keep(p: StorageObject, refetch?: (use: (f: Fetched) => Promise<void>) => Promise<void>): ArchiveBlob | undefined | Promise<ArchiveBlob | undefined> {
        if (!this.enabled) return p.archive;
        const known = this.recent.get(p.blobKey) ?? p.archive;
        if (known) return this.covering(p.blobKey, known);
        if (!this.live || !refetch) return undefined;
        return this.catchUp(p, refetch);
    }

    private async catchUp(entry: StorageObject, refetch: (use: (f: Fetched) => Promise<void>) => Promise<void>): Promise<ArchiveBlob | undefined> {
        let rec: ArchiveBlob | undefined;
        try {
            await refetch(async (f) => {
                if (f.sha256 !== entry.sha256) {
                    this.run.log.warn({ bucket: entry.bucket, name: entry.name }, "object changed since its entry was recorded: its blob is copied to the archive when the next run records it");
                    return;
                }
                rec = await this.copy(entry.blobKey, f);
            });
        } catch (e) {
            this.run.log.warn({ bucket: entry.bucket, name: entry.name, err: errorMessage(e) }, "could not fetch the object again for its archive copy (retried next run)");
        }
        return rec;
    }

    /** The record, or (when its lock ends before this run's retain-until, as blobs.ts does in S3) the promise of its extension, once per key. */
    private covering(key: string, rec: ArchiveBlob): ArchiveBlob | Promise<ArchiveBlob> {
        if (lockCovers(rec.lockedUntil, this.run.retain) || !this.live || this.noImmutabilityApi) return rec;
        let p = this.extending.get(key);
        if (!p) {
            p = this.extend(key, rec).finally(() => this.extending.delete(key));
            this.extending.set(key, p);
        }
        return p;
    }

    private async extend(key: string, rec: ArchiveBlob): Promise<ArchiveBlob> {
        if (!this.firstExtension) {
            const first = this.extendOne(key, rec);
            this.firstExtension = first;
            return first;
        }
        await this.firstExtension;
        return this.extendOne(key, rec);
    }

    private async extendOne(key: string, rec: ArchiveBlob): Promise<ArchiveBlob> {
        const live = this.live;
        if (!live || this.noImmutabilityApi) return rec;
        try {
            const c = live.getBlobClient(key);
            await (rec.versionId ? c.withVersion(rec.versionId) : c).setImmutabilityPolicy({ expiriesOn: this.lockTarget, policyMode: "Locked" });
            return this.remember(key, { ...rec, lockedUntil: this.lockTargetIso });
        } catch (e) {
            if (isNoImmutabilityApi(e)) {
                if (!this.noImmutabilityApi) this.run.log.warn({ err: errorMessage(e) }, "the archive has no immutability API: blob locks cannot be extended");
                this.noImmutabilityApi = true;
            } else this.fail(`extend the immutability of ${key}: ${errorMessage(e)}`);
            return rec;
        }
    }

    /** A shard's `archive`: `missing` = its entries without a record (counted as they were written). */
    summary(missing: number): StorageArchive | undefined {
        if (!this.enabled) return undefined;
        return runArchive([{ provider: "azure", container: this.container!, status: "ok", missing: 0, copied: this.copied, ...(this.failure ? { error: this.failure } : {}) }], missing);
    }

    /** The run manifest, beside the blobs, as the same bytes (the archive is usable on its own). False: failed. */
    async copyManifest(key: string, manifest: StorageManifest, tags: { tier: TierTag }): Promise<boolean> {
        if (!this.client) return !this.enabled;
        try {
            await putArchiveRecord(this.client, { key, tags: { tier: tags.tier, env: this.run.env, kind: "sync-storage" }, retainUntil: new Date(manifest.retainUntil) }, manifest);
            return true;
        } catch (e) {
            this.run.log.warn({ key, err: errorMessage(e) }, "Azure copy of the run manifest failed (degraded)");
            return false;
        }
    }

    /** The run's object list beside its manifest (same key, same bytes, streamed from S3). False: failed. */
    async copyObjectList(ref: ObjectListRef, body: () => Promise<Readable>, manifest: StorageManifest, tier: TierTag): Promise<boolean> {
        if (!this.client) return !this.enabled;
        try {
            const options = archiveWriteOptions({ key: ref.key, contentType: "application/x-ndjson", tags: { tier, env: this.run.env, kind: "sync-storage" }, retainUntil: new Date(manifest.retainUntil) });
            await this.client.getBlockBlobClient(ref.key).uploadStream(await body(), BLOCK_SIZE, 2, options as Parameters<BlockBlobClient["uploadStream"]>[3]);
            return true;
        } catch (e) {
            if (isArchiveConflict(e)) return true;
            this.run.log.warn({ key: ref.key, err: errorMessage(e) }, "Azure copy of the run's object list failed (degraded)");
            return false;
        }
    }
}

/** A run's `archive` from its shards' (or its one shard's), `missing` its final entries without a record; undefined when off. */
export function runArchive(parts: Array<StorageArchive | undefined>, missing: number): StorageArchive | undefined {
    const present = parts.filter((p): p is StorageArchive => !!p);
    if (!present.length) return undefined;
    const error = present.find((p) => p.error)?.error;
    return {
        provider: "azure",
        container: present[0].container,
        status: missing || error ? "degraded" : "ok",
        missing,
        copied: present.reduce((n, p) => n + p.copied, 0),
        ...(error ? { error } : {}),
    };
}
