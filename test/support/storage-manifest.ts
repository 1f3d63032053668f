// A small schema-valid storage run manifest (version 1: entries inline) naming the given blobs: gc tests
// write them to the vault and the archive by hand.
import { assertSchema, storageBlobKey, StorageManifestSchema, type StorageManifest } from "@supabase-backups/contracts";

const day = 86_400_000;

export function storageManifest(env: string, runId: string, shas: string[], previous: StorageManifest["previous"] = null): StorageManifest {
    const m: StorageManifest = {
        schemaVersion: 1,
        kind: "storage",
        env,
        runId,
        startedAt: new Date().toISOString(),
        finishedAt: new Date().toISOString(),
        mode: "rest",
        shards: 1,
        tier: "daily",
        retainUntil: new Date(Date.now() + 7 * day).toISOString(),
        buckets: [{ name: "user-media", objects: shas.length, bytes: shas.length }],
        objects: shas.map((sha, i) => ({
            bucket: "user-media",
            name: `f${i}`,
            size: 1,
            sha256: sha,
            contentType: "text/plain",
            cacheControl: null,
            metadata: {},
            updatedAt: new Date().toISOString(),
            eTag: null,
            blobKey: storageBlobKey(env, sha),
        })),
        failed: [],
        stats: { listed: shas.length, copied: shas.length, skipped: 0, deduplicated: 0, failed: 0, bytesUploaded: shas.length },
        previous,
    };
    return assertSchema<StorageManifest>(StorageManifestSchema, m, "test manifest");
}
