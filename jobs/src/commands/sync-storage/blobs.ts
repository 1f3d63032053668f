// The run's view of the content-addressed blobs: which exist, which this run stores, and their locks.
//
// Existence: the previous manifest's blobs are known to exist; other blobs are checked by listing (the
// writer may list its prefixes but, by the IAM policy, may not GetObject/HeadObject a blob): one
// delimiter listing of the blob directories per run, then a ListObjectsV2 on the exact key where the
// directory exists. A blob another shard stores meanwhile is caught by the put's If-None-Match. A map of
// in-flight blob keys dedups within the run.
//
// Locks (docs/architecture.md "Retention"): a blob's lock must cover every retained manifest that
// references it. This run's manifest references its blobs until `retain`: a blob whose known lock ends
// earlier (or is unknown) is extended to `retain` + slack, once per key per run; the lock end is
// recorded per entry.
import { ListObjectsV2Command, PutObjectRetentionCommand, type S3Client } from "@aws-sdk/client-s3";
import { prefixes, storageBlobKey } from "@supabase-backups/contracts";
import { errorMessage } from "../../runtime/errors";
import { retentionParams } from "../../vault/write-params";
import { isShorterLockRefusal } from "../../vault/s3";
import type { Fetched } from "./download";
import { lockCovers, type PreviousIndex } from "./plan";
import { LOCK_SLACK_MS, vaultOp, type RunScope, type Timing } from "./run";
import { putBlob, type BlobTarget } from "./upload";

export type Stored = "uploaded" | "existing";

export class BlobStore {
    readonly target: BlobTarget;
    private readonly stores = new Map<string, Promise<Stored>>();
    private readonly extensions = new Map<string, Promise<void>>();
    /** lock ends this run set (upload, extension), by blob key */
    private readonly setLocks = new Map<string, string>();
    /** VersionIds of the blobs this run uploaded */
    private readonly uploaded = new Map<string, string>();
    private blobDirs: Promise<Set<string>> | undefined;

    constructor(
        private readonly run: Pick<RunScope, "s3" | "vaultBucket" | "env" | "cfg" | "log" | "retain">,
        private readonly prev: PreviousIndex,
        private readonly timing: Timing,
        multipartThreshold: number,
    ) {
        this.target = { vault: run.cfg.vault, env: run.env, lockTarget: new Date(run.retain.getTime() + LOCK_SLACK_MS), multipartThreshold };
    }

    private get s3(): S3Client {
        return this.run.s3;
    }

    /** The lock end an entry records: set by this run, else as the previous run recorded it. */
    lockEnd(key: string): string | undefined {
        return this.setLocks.get(key) ?? this.prev.locks.get(key);
    }

    /** The blob's VersionId an entry records: this run's upload, else as the previous run recorded it. */
    versionOf(key: string): string | undefined {
        return this.uploaded.get(key) ?? this.prev.versions.get(key);
    }

    /** A blob of the previous manifest, referenced without a transfer: does its lock need extending? */
    needsExtension(key: string): boolean {
        return !lockCovers(this.prev.locks, key, this.run.retain) && !this.extensions.has(key);
    }

    /**
     * Extend the blob's lock to the lock target, once per key per run. `lowerBoundKnown`: a manifest
     * vouches for the blob, so a refusal other than "already locked longer" is real.
     */
    extendRetention(key: string, lowerBoundKnown: boolean): Promise<void> {
        let p = this.extensions.get(key);
        if (!p) {
            const until = this.target.lockTarget;
            p = vaultOp(`extend retention of ${key}`, () => this.s3.send(new PutObjectRetentionCommand(retentionParams(this.run.cfg.vault, key, until)))).then(
                () => {
                    this.setLocks.set(key, until.toISOString());
                },
                (e) => {
                    // The blob may already be locked longer than requested (a higher-tier run, or a
                    // manifest that did not record it): the store refuses to shorten COMPLIANCE, which is
                    // fine — its lock already covers this run (it does not say until when: the requested
                    // end is recorded). S3 says 403 "Access Denied because object protected by object
                    // lock"; Ceph RGW says 403 "proposed retain-until date shortens an existing retention
                    // period and governance bypass check failed".
                    if (isShorterLockRefusal(e)) {
                        this.run.log.debug({ key }, "retention already longer than requested");
                        this.setLocks.set(key, until.toISOString());
                        return;
                    }
                    if (lowerBoundKnown) throw e;
                    this.run.log.warn({ key, err: errorMessage(e) }, "could not extend the retention of an existing blob (it may already be locked longer)");
                },
            );
            this.extensions.set(key, p);
        }
        return p;
    }

    /** Make sure the blob is in the vault with at least this run's lock; once per key per run. */
    store(f: Fetched): Promise<Stored> {
        const key = storageBlobKey(this.run.env, f.sha256);
        let job = this.stores.get(key);
        if (job) return job.then(() => "existing" as const);
        job = this.storeOnce(key, f);
        this.stores.set(key, job);
        // A failed attempt must not poison later attempts at the same content.
        job.catch(() => this.stores.delete(key));
        return job;
    }

    private async storeOnce(key: string, f: Fetched): Promise<Stored> {
        if (this.prev.blobs.has(key)) {
            if (!lockCovers(this.prev.locks, key, this.run.retain)) await this.extendRetention(key, true);
            return "existing";
        }
        if (await this.timing.time("exists", () => this.exists(key))) {
            await this.extendRetention(key, false);
            return "existing";
        }
        const { how, versionId } = await this.timing.time("upload", () => vaultOp(`put ${key}`, () => putBlob(this.s3, this.target, key, f)));
        if (how === "uploaded") this.setLocks.set(key, this.target.lockTarget.toISOString());
        // "null" is the version of an object in a bucket without versioning: nothing to pin
        if (versionId && versionId !== "null") this.uploaded.set(key, versionId);
        // lost the If-None-Match race: the other writer's lock is unknown
        else await this.extendRetention(key, false);
        return how;
    }

    /** One delimiter listing tells which blob directories exist, so a first sync into an empty vault lists nothing else. */
    private async exists(key: string): Promise<boolean> {
        const dir = key.slice(0, key.lastIndexOf("/") + 1);
        if (!this.blobDirs) {
            this.blobDirs = this.listBlobDirs();
            // a failed listing is retried by the next caller
            this.blobDirs.catch(() => (this.blobDirs = undefined));
        }
        if (!(await this.blobDirs).has(dir)) return false;
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
