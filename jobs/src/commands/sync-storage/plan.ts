// The pure part of a shard's sync: which buckets it syncs and which it carries over, whether a blob's
// known lock covers the run, and the manifest entries. No I/O here (the comparison: compare.ts).
import { compareCodePoints, storageBlobKey, type JobConfig, type StorageObject } from "@supabase-backups/contracts";
import { UsageError } from "../../runtime/errors";
import type { BucketFilter, SourceObject } from "../../supabase/storage-source";

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
    // in code-point order: the listing is merge-compared with the previous run's sorted list
    const toSync = (only ? configured.filter((b) => only.includes(b.name)) : configured).slice().sort((a, b) => compareCodePoints(a.name, b.name));
    const carried = configured.filter((b) => !toSync.includes(b)).map((b) => b.name);
    return { configured, toSync, carried };
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

/** The entry as recorded: its blob's lock end and VersionId last, when known. */
export function withBlob(o: StorageObject, lockedUntil: string | undefined, versionId: string | undefined): StorageObject {
    const { lockedUntil: _l, versionId: _v, ...rest } = o;
    return { ...rest, ...(lockedUntil ? { lockedUntil } : {}), ...(versionId ? { versionId } : {}) };
}

/** The entry with its blob's archive record (none: not known to be in the archive). */
export function withArchiveRecord(o: StorageObject, rec: StorageObject["archive"]): StorageObject {
    const { archive: _a, ...rest } = o;
    return rec ? { ...rest, archive: rec } : rest;
}

/** Does a blob's known lock end (absent: unknown) already reach `retain`? */
export function lockCovers(lockedUntil: string | undefined, retain: Date): boolean {
    return !!lockedUntil && Date.parse(lockedUntil) >= retain.getTime();
}
