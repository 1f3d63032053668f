// The run's view of the content-addressed blobs: which exist, which this run stores, and their locks.
//
// Existence: a changed object whose content is the blob its previous entry named is known to exist;
// other blobs are checked by listing (the writer may list its prefixes but, by the IAM policy, may not
// GetObject/HeadObject a blob): one delimiter listing of the blob directories per run, then a
// ListObjectsV2 on the exact key where the directory exists. A blob another shard stores meanwhile is
// caught by the put's If-None-Match. In-flight stores and extensions are deduplicated per key, and the
// outcome of the last RECENT blobs is remembered: memory stays bounded at a million objects (the
// previous run's blobs are never held as a set).
//
// Locks (docs/architecture.md "Retention"): a blob's lock must cover every retained manifest that
// references it. This run's manifest references its blobs until `retain`: a blob whose known lock ends
// earlier (or is unknown) is extended to `retain` + slack; the lock end is recorded per entry.
import { ListObjectsV2Command, PutObjectRetentionCommand, type S3Client } from "@aws-sdk/client-s3";
import { prefixes, storageBlobKey, type StorageObject } from "@supabase-backups/contracts";
import { errorMessage } from "../../runtime/errors";
import { retentionParams } from "../../vault/write-params";
import { isShorterLockRefusal } from "../../vault/s3";
import type { Fetched } from "./download";
import { lockCovers } from "./plan";
import { LOCK_SLACK_MS, vaultOp, type RunScope, type Timing } from "./run";
import { RecentBlobs } from "./recent";
import { putBlob, type BlobTarget } from "./upload";

export type Stored = "uploaded" | "existing";

/** What an entry records of its blob: how this run got it, its lock end and VersionId when known. */
export interface BlobInfo {
    how: Stored;
    lockedUntil?: string;
    versionId?: string;
}

/** How many blobs' outcomes are remembered (dedup within the run without a set of every blob). */
const RECENT = 50_000;

/**
 * A Bloom filter over sha256 hex digests (already uniform: four 24-bit slices are the hash functions).
 * 2^23 bits (1 MiB): ~2 % false positives at a million blobs, each costing one exact listing.
 */
class ShaBloom {
    private readonly bits = new Uint8Array(1 << 20);

    private *slots(sha256: string): Generator<number> {
        for (let i = 0; i < 4; i++) yield parseInt(sha256.slice(i * 6, i * 6 + 6), 16) & ((1 << 23) - 1);
    }

    add(sha256: string): void {
        for (const b of this.slots(sha256)) this.bits[b >> 3] |= 1 << (b & 7);
    }

    mightHave(sha256: string): boolean {
        for (const b of this.slots(sha256)) if (!(this.bits[b >> 3] & (1 << (b & 7)))) return false;
        return true;
    }
}

export class BlobStore {
    readonly target: BlobTarget;
    private readonly stores = new Map<string, Promise<BlobInfo>>();
    private readonly extensions = new Map<string, Promise<string | undefined>>();
    /** outcomes of recent stores and extensions, oldest first */
    private readonly recent: RecentBlobs<{ lockedUntil?: string; versionId?: string }>;
    /** the lock end this run sets, one string for every entry that records it */
    private readonly lockTargetIso: string;
    /** every blob this run uploaded, approximately (1 MiB whatever the count; no false negatives) */
    private readonly storedByRun = new ShaBloom();
    private blobDirs: Promise<Set<string>> | undefined;

    constructor(
        private readonly run: Pick<RunScope, "s3" | "vaultBucket" | "env" | "cfg" | "log" | "retain">,
        private readonly timing: Timing,
        multipartThreshold: number,
    ) {
        this.target = { vault: run.cfg.vault, env: run.env, lockTarget: new Date(run.retain.getTime() + LOCK_SLACK_MS), multipartThreshold };
        this.lockTargetIso = this.target.lockTarget.toISOString();
        this.recent = new RecentBlobs(run.env, RECENT);
    }

    private get s3(): S3Client {
        return this.run.s3;
    }

    private remember(key: string, info: { lockedUntil?: string; versionId?: string }): void {
        this.recent.set(key, info);
    }

    /**
     * An entry of the previous manifest kept without a transfer (unchanged, or a carried bucket's): its
     * lock end, extending the blob's lock first when the recorded one ends before this run's retain-until.
     */
    keep(p: StorageObject): string | undefined | Promise<string | undefined> {
        if (p.lockedUntil && lockCovers(p.lockedUntil, this.run.retain)) return p.lockedUntil;
        const known = this.recent.get(p.blobKey)?.lockedUntil;
        if (known && lockCovers(known, this.run.retain)) return known;
        return this.extendRetention(p.blobKey, true);
    }

    /**
     * Extend the blob's lock to the lock target, once per key at a time; resolves to the lock end to
     * record. `lowerBoundKnown`: a manifest vouches for the blob, so a refusal other than "already locked
     * longer" is real.
     */
    extendRetention(key: string, lowerBoundKnown: boolean): Promise<string | undefined> {
        // settled meanwhile (e.g. kept for another entry while this one was being looked up): one request per blob
        const known = this.recent.get(key)?.lockedUntil;
        if (known && lockCovers(known, this.run.retain)) return Promise.resolve(known);
        let p = this.extensions.get(key);
        if (!p) {
            const until = this.target.lockTarget;
            p = vaultOp(`extend retention of ${key}`, () => this.s3.send(new PutObjectRetentionCommand(retentionParams(this.run.cfg.vault, key, until)))).then(
                () => this.lockTargetIso,
                (e) => {
                    // The blob may already be locked longer than requested (a higher-tier run, or a
                    // manifest that did not record it): the store refuses to shorten COMPLIANCE, which is
                    // fine — its lock already covers this run (it does not say until when: the requested
                    // end is recorded). S3 says 403 "Access Denied because object protected by object
                    // lock"; Ceph RGW says 403 "proposed retain-until date shortens an existing retention
                    // period and governance bypass check failed".
                    if (isShorterLockRefusal(e)) {
                        this.run.log.debug({ key }, "retention already longer than requested");
                        return this.lockTargetIso;
                    }
                    if (lowerBoundKnown) throw e;
                    this.run.log.warn({ key, err: errorMessage(e) }, "could not extend the retention of an existing blob (it may already be locked longer)");
                    return undefined;
                },
            );
            const done = p;
            this.extensions.set(key, done);
            done.then(
                (lockedUntil) => {
                    if (lockedUntil) this.remember(key, { ...this.recent.get(key), lockedUntil });
                },
                () => undefined,
            ).finally(() => this.extensions.delete(key));
        }
        return p;
    }

    /**
     * Make sure the blob is in the vault with at least this run's lock. `prev`: the object's previous
     * entry, whose blob is known to exist (same content, e.g. only its metadata changed).
     */
    store(f: Fetched, prev?: StorageObject): Promise<BlobInfo> {
        const key = storageBlobKey(this.run.env, f.sha256);
        const inFlight = this.stores.get(key);
        if (inFlight) return inFlight.then((i) => ({ ...i, how: "existing" as const }));
        const job = this.storeOnce(key, f, prev);
        this.stores.set(key, job);
        // settled stores are remembered in `recent`; a failed attempt must not poison later ones
        job.then(({ how: _how, ...info }) => this.remember(key, info), () => undefined).finally(() => this.stores.delete(key));
        return job;
    }

    private async storeOnce(key: string, f: Fetched, prev: StorageObject | undefined): Promise<BlobInfo> {
        // stored or found by this run already: the same content, nothing to send
        const seen = this.recent.get(key);
        if (seen) return { how: "existing", ...seen };
        if (prev?.blobKey === key) {
            const lockedUntil = await this.keep(prev);
            return { how: "existing", lockedUntil, versionId: prev.versionId };
        }
        // beyond `recent`, a blob this run may have stored is looked up exactly (the directory listing is older)
        if (await this.timing.time("exists", () => this.exists(key, this.storedByRun.mightHave(f.sha256)))) {
            return { how: "existing", lockedUntil: await this.extendRetention(key, false) };
        }
        const { how, versionId } = await this.timing.time("upload", () => vaultOp(`put ${key}`, () => putBlob(this.s3, this.target, key, f)));
        this.storedByRun.add(f.sha256);
        // "null" is the version of an object in a bucket without versioning: nothing to pin
        const pinned = versionId && versionId !== "null" ? versionId : undefined;
        if (how === "uploaded" && pinned) return { how, lockedUntil: this.lockTargetIso, versionId: pinned };
        // lost the If-None-Match race (the other writer's lock is unknown), or no version to tell this
        // upload from another writer's: extend (a no-op when it already holds)
        const extended = await this.extendRetention(key, false);
        return { how, lockedUntil: extended ?? (how === "uploaded" ? this.lockTargetIso : undefined) };
    }
    /** One delimiter listing tells which blob directories exist, so a first sync into an empty vault lists nothing else. */
    private async exists(key: string, mayBeOurs = false): Promise<boolean> {
        const dir = key.slice(0, key.lastIndexOf("/") + 1);
        if (mayBeOurs) return this.listKey(key);
        if (!this.blobDirs) {
            this.blobDirs = this.listBlobDirs();
            // a failed listing is retried by the next caller
            this.blobDirs.catch(() => (this.blobDirs = undefined));
        }
        if (!(await this.blobDirs).has(dir)) return false;
        return this.listKey(key);
    }

    private listKey(key: string): Promise<boolean> {
        return vaultOp(`list ${key}`, async () => {
            const r = await this.s3.send(new ListObjectsV2Command({ Bucket: this.run.vaultBucket, Prefix: key, MaxKeys: 1 }));
            return (r.Contents ?? []).some((o) => o.Key === key);
        });
    }

    private listBlobDirs(): Promise<Set<string>> {
        return vaultOp("list blob directories", async () => {
            const dirs = new Set<string>();
            let token: string | undefined;
            do {
                const r = await this.s3.send(new ListObjectsV2Command({ Bucket: this.run.vaultBucket, Prefix: prefixes.storageBlobs(this.run.env), Delimiter: "/", ContinuationToken: token }));
                for (const p of r.CommonPrefixes ?? []) dirs.add(p.Prefix!);
                token = r.IsTruncated ? r.NextContinuationToken : undefined;
            } while (token);
            return dirs;
        });
    }
}
