// The Azure archive copy of a sync-storage run (docs/architecture.md "Vault layout"): every blob the
// run references goes to the archive container under the same content-addressed key as in S3, create-
// only (`If-None-Match: *`), tagged like its S3 twin and under a Locked immutability policy until the
// same lock target. The S3 copy is the primary: an Azure failure never fails the run, it marks the
// archive degraded (exit code and metric "degraded"), stops further Azure writes for this run, and
// leaves the entries without an `archive` record, so the next run copies them.
//
// What is in the archive is known from the previous manifest's `archive` records (the writer may not
// list or read Azure), so an incremental run sends nothing for blobs already there. Three ways a blob
// gets there: (1) right after its S3 store, from the same verified bytes (`copy`); (2) an unchanged
// object whose blob is not there yet (an earlier degraded run, or the archive was switched on later) is
// downloaded again from the source and checked against its sha256 (`catchUp`); (3) entries of carried
// buckets cannot be fetched this run and stay missing until their bucket is synced.
import { createReadStream } from "node:fs";
import type { ContainerClient } from "@azure/storage-blob";
import type { JobConfig, StorageArchive, StorageManifest, StorageObject, TierTag } from "@supabase-backups/contracts";
import { errorMessage } from "../../runtime/errors";
import { archiveWriteOptions, createArchiveClient, isArchiveConflict, isNoImmutabilityApi, putArchiveRecord } from "../../vault/archive";
import type { Fetched } from "./download";
import { lockCovers } from "./plan";
import type { RunScope } from "./run";

type ArchiveBlob = NonNullable<StorageObject["archive"]>;

/** Archive copies on, per config: an archive target (azure.enabled), not switched off for storage. */
export function archiveEnabled(cfg: JobConfig): cfg is JobConfig & { archive: NonNullable<JobConfig["archive"]> } {
    return !!cfg.archive && cfg.azure?.enabled !== false && cfg.storage.archive !== false;
}

/** Blob key → its archive record, from the previous manifest. */
export function indexArchived(prev: Pick<StorageManifest, "objects"> | undefined): Map<string, ArchiveBlob> {
    const m = new Map<string, ArchiveBlob>();
    for (const o of prev?.objects ?? []) if (o.archive && !m.has(o.blobKey)) m.set(o.blobKey, o.archive);
    return m;
}

const BLOCK_SIZE = 8 * 1024 * 1024;

export class ArchiveCopy {
    /** what this run copied (or found there) and the locks it set, by blob key */
    private readonly records = new Map<string, ArchiveBlob>();
    private readonly inflight = new Map<string, Promise<void>>();
    private readonly extended = new Set<string>();
    private readonly catchingUp = new Set<string>();
    private copied = 0;
    private failure?: string;
    private noImmutabilityApi = false;

    private constructor(
        private readonly run: Pick<RunScope, "env" | "log" | "retain">,
        private readonly client: ContainerClient | undefined,
        readonly container: string | undefined,
        private readonly known: Map<string, ArchiveBlob>,
        private readonly lockTarget: Date,
    ) {}

    /** Off (no archive configured): every method is a no-op and the manifest gets no `archive`. */
    static async open(run: Pick<RunScope, "env" | "log" | "retain" | "cfg">, prev: Pick<StorageManifest, "objects"> | undefined, lockTarget: Date, env: NodeJS.ProcessEnv): Promise<ArchiveCopy> {
        const known = indexArchived(prev);
        if (!archiveEnabled(run.cfg)) return new ArchiveCopy(run, undefined, undefined, known, lockTarget);
        const a = run.cfg.archive;
        try {
            const client = await createArchiveClient(a, env, { retryOptions: { maxTries: 3, retryDelayInMs: 500, maxRetryDelayInMs: 4000, tryTimeoutInMs: 120_000 } });
            return new ArchiveCopy(run, client, a.container, known, lockTarget);
        } catch (e) {
            const c = new ArchiveCopy(run, undefined, a.container, known, lockTarget);
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

    /** Is the blob in the archive (recorded before, or copied by this run)? */
    has(key: string): boolean {
        return this.known.has(key) || this.records.has(key);
    }

    /** Should an unchanged object be fetched again to copy its blob? Only while the archive works. */
    needsCatchUp(key: string): boolean {
        return !!this.live && !this.has(key) && !this.inflight.has(key);
    }

    /** Copy the verified bytes of a blob (just stored in S3). Never throws: a failure degrades the archive. */
    copy(key: string, f: Fetched): Promise<void> {
        if (!this.live || this.has(key)) return Promise.resolve();
        let p = this.inflight.get(key);
        if (!p) {
            p = this.put(key, f).finally(() => this.inflight.delete(key));
            this.inflight.set(key, p);
        }
        return p;
    }

    private async put(key: string, f: Fetched): Promise<void> {
        const blob = this.live!.getBlockBlobClient(key);
        const options = archiveWriteOptions({ key, contentType: "application/octet-stream", tags: { env: this.run.env, kind: "sync-storage", content: "blob" }, retainUntil: this.lockTarget });
        try {
            const r = f.buffer
                ? await blob.upload(f.buffer, f.size, options)
                : // staged blocks, one commit; the policy, tags and condition ride on the commit (as dump does)
                  await blob.uploadStream(createReadStream(f.file!), BLOCK_SIZE, 2, options as Parameters<typeof blob.uploadStream>[3]);
            this.records.set(key, { ...(r.versionId ? { versionId: r.versionId } : {}), lockedUntil: this.lockTarget.toISOString() });
            this.copied++;
        } catch (e) {
            // Already there (a run that failed before its manifest, or another shard): content-addressed,
            // so the same bytes; its lock is unknown until this run extends it.
            if (isArchiveConflict(e)) this.records.set(key, {});
            else this.fail(`${key}: ${errorMessage(e)}`);
        }
    }

    /**
     * An unchanged object whose blob is not in the archive: download it again (`fetch` hands the verified
     * bytes to `use` and cleans up), check it is still the recorded content, copy it. Never throws: a
     * source failure leaves the blob missing (retried next run), an Azure failure degrades the archive.
     */
    async catchUp(entry: StorageObject, fetch: (use: (f: Fetched) => Promise<void>) => Promise<void>): Promise<void> {
        if (!this.needsCatchUp(entry.blobKey) || this.catchingUp.has(entry.blobKey)) return;
        this.catchingUp.add(entry.blobKey);
        try {
            await fetch(async (f) => {
                if (f.sha256 !== entry.sha256) {
                    this.run.log.warn({ bucket: entry.bucket, name: entry.name }, "object changed since its entry was recorded: its blob is copied to the archive when the next run records it");
                    return;
                }
                await this.copy(entry.blobKey, f);
            });
        } catch (e) {
            this.run.log.warn({ bucket: entry.bucket, name: entry.name, err: errorMessage(e) }, "could not fetch the object again for its archive copy (retried next run)");
        } finally {
            this.catchingUp.delete(entry.blobKey);
        }
    }

    /**
     * Extend the Locked immutability of every referenced blob whose recorded lock ends before this run's
     * retain-until (as blobs.ts does in S3), once per key. A store without the API is logged once.
     */
    async extendLocks(objects: StorageObject[], concurrency: number): Promise<void> {
        const ends = this.lockEnds();
        const due = [...new Set(objects.map((o) => o.blobKey))].filter((k) => this.has(k) && !this.extended.has(k) && !lockCovers(ends, k, this.run.retain));
        if (!due.length) return;
        // the first alone: a store without the API answers it, and no more are tried
        await this.extendOne(due[0]);
        let next = 1;
        const worker = async () => {
            while (next < due.length && this.live && !this.noImmutabilityApi) await this.extendOne(due[next++]);
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, due.length - 1) }, worker));
    }

    private async extendOne(key: string): Promise<void> {
        const live = this.live;
        if (!live || this.noImmutabilityApi) return;
        this.extended.add(key);
        try {
            const rec = this.records.get(key) ?? this.known.get(key);
            const c = live.getBlobClient(key);
            await (rec?.versionId ? c.withVersion(rec.versionId) : c).setImmutabilityPolicy({ expiriesOn: this.lockTarget, policyMode: "Locked" });
            this.records.set(key, { ...rec, lockedUntil: this.lockTarget.toISOString() });
        } catch (e) {
            if (isNoImmutabilityApi(e)) {
                this.noImmutabilityApi = true;
                this.run.log.warn({ err: errorMessage(e) }, "the archive has no immutability API: blob locks cannot be extended");
            } else this.fail(`extend the immutability of ${key}: ${errorMessage(e)}`);
        }
    }

    private lockEnds(): Map<string, string> {
        const m = new Map<string, string>();
        for (const [k, v] of [...this.known, ...this.records]) if (v.lockedUntil) m.set(k, v.lockedUntil);
        return m;
    }

    /** Every entry records its blob's archive copy when known (this run's, else the previous run's). */
    withArchive(objects: StorageObject[]): StorageObject[] {
        if (!this.enabled) return objects;
        return objects.map(({ archive: _a, ...o }) => {
            const a = this.records.get(o.blobKey) ?? this.known.get(o.blobKey);
            return a ? { ...o, archive: a } : o;
        });
    }

    /** The manifest's `archive`: degraded when a write failed or an entry's blob is not known to be there. */
    summary(objects: StorageObject[]): StorageArchive | undefined {
        if (!this.enabled) return undefined;
        return runArchive([{ provider: "azure", container: this.container!, status: "ok", missing: 0, copied: this.copied, ...(this.failure ? { error: this.failure } : {}) }], objects);
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
}

/** A run's `archive` from its shards' (or its one shard's) and its final entries; undefined when off. */
export function runArchive(parts: Array<StorageArchive | undefined>, objects: StorageObject[]): StorageArchive | undefined {
    const present = parts.filter((p): p is StorageArchive => !!p);
    if (!present.length) return undefined;
    const missing = objects.filter((o) => !o.archive).length;
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
