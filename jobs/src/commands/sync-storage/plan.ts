// The pure part of a shard's sync: which buckets it syncs and which it carries over, what the previous
// run tells (entries, blobs known to exist, their lock ends), whether an object changed, and the
// manifest entries. No I/O here.
import { storageBlobKey, type JobConfig, type StorageManifest, type StorageObject } from "@supabase-backups/contracts";
import { UsageError } from "../../runtime/errors";
import type { BucketFilter, SourceObject } from "../../supabase/storage-source";
import { objectKey } from "../../vault/storage-runs";

export interface BucketPlan {
    /** every configured bucket (default: all of the project's) */
    configured: BucketFilter[];
    /** the ones this run lists and transfers */
    toSync: BucketFilter[];
    /** the others, by name: their entries are carried over from the previous run */
    carried: string[];
}

/** Buckets: configured (default all); every configured one must exist, every --bucket be configured. */
export function planBuckets(existing: string[], configuredBuckets: JobConfig["storage"]["buckets"], only: string[] | undefined): BucketPlan {
    const configured: BucketFilter[] = configuredBuckets
        ? configuredBuckets.map((b) => ({ name: b.name, include: b.include ?? [], exclude: b.exclude ?? [] }))
        : existing.map((name) => ({ name, include: [], exclude: [] }));
    const unknown = configured.filter((b) => !existing.includes(b.name)).map((b) => b.name);
    if (unknown.length) {
        throw new UsageError(`storage.buckets: no such bucket in the project: ${unknown.join(", ")} (storage.buckets has: ${existing.join(", ") || "none"})`);
    }
    for (const b of only ?? []) {
        if (!configured.some((x) => x.name === b)) {
            throw new UsageError(`--bucket ${b}: not a configured bucket (${configured.map((x) => x.name).join(", ") || "none"})`);
        }
    }
    const toSync = only ? configured.filter((b) => only.includes(b.name)) : configured;
    const carried = configured.filter((b) => !toSync.includes(b)).map((b) => b.name);
    return { configured, toSync, carried };
}

/**
 * The previous run: its entries by bucket/name, its blobs (known to exist in the vault) and their
 * recorded lock ends (`lockedUntil`, a lower bound of the real lock; absent in older manifests).
 */
export interface PreviousIndex {
    entries: Map<string, StorageObject>;
    blobs: Set<string>;
    locks: Map<string, string>;
    /** the blobs' VersionIds as recorded (absent in older manifests) */
    versions: Map<string, string>;
}

export function indexPrevious(prev: StorageManifest | undefined): PreviousIndex {
    const entries = new Map<string, StorageObject>();
    const blobs = new Set<string>();
    const locks = new Map<string, string>();
    const versions = new Map<string, string>();
    for (const o of prev?.objects ?? []) {
        entries.set(objectKey(o.bucket, o.name), o);
        blobs.add(o.blobKey);
        if (o.versionId) versions.set(o.blobKey, o.versionId);
        const k = locks.get(o.blobKey);
        if (o.lockedUntil && (!k || Date.parse(o.lockedUntil) > Date.parse(k))) locks.set(o.blobKey, o.lockedUntil);
    }
    return { entries, blobs, locks, versions };
}

/** Unchanged: same name, eTag, size, updated_at as the previous entry (a row without a size compares on the rest). */
export function isUnchanged(p: StorageObject | undefined, o: SourceObject): p is StorageObject {
    return !!p && p.eTag === o.eTag && p.updatedAt === o.updatedAt && (o.size === null || p.size === o.size);
}

/** An unchanged object keeps its blob; the descriptive fields are refreshed from the row. */
export function refreshedEntry(p: StorageObject, o: SourceObject): StorageObject {
    return { ...p, contentType: o.contentType, cacheControl: o.cacheControl, metadata: o.userMetadata };
}

export function entryFrom(env: string, o: SourceObject, sha256: string, size: number): StorageObject {
    return {
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
    };
}

/** The previous run's entries of the carried buckets that fall in this shard, as they were. */
export function carriedEntries(prev: StorageManifest | undefined, carried: string[], inShard: (bucket: string, name: string) => boolean): StorageObject[] {
    const out: StorageObject[] = [];
    for (const name of carried) {
        for (const o of prev?.objects ?? []) if (o.bucket === name && inShard(o.bucket, o.name)) out.push(o);
    }
    return out;
}

/** Does the blob's known lock already reach `retain`? Unknown locks do not. */
export function lockCovers(locks: Map<string, string>, key: string, retain: Date): boolean {
    const k = locks.get(key);
    return !!k && Date.parse(k) >= retain.getTime();
}

/** Every entry records its blob's lock end: set by this run, else as the previous run recorded it. */
export function withLockEnds(objects: StorageObject[], lockEnd: (blobKey: string) => string | undefined): StorageObject[] {
    return objects.map(({ lockedUntil: _l, ...o }) => {
        const l = lockEnd(o.blobKey);
        return l ? { ...o, lockedUntil: l } : o;
    });
}

/** Every entry records its blob's VersionId when known: uploaded by this run, else as recorded before. */
export function withBlobVersions(objects: StorageObject[], versionOf: (blobKey: string) => string | undefined): StorageObject[] {
    return objects.map(({ versionId: _v, ...o }) => {
        const v = versionOf(o.blobKey);
        return v ? { ...o, versionId: v } : o;
    });
}
