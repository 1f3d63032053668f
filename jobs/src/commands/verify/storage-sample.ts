// Storage side of verify: for the newest complete storage run, every blob its manifest references
// exists in the vault, and a random sample (ratio, at least a minimum) is downloaded and re-hashed.
import type { S3Client } from "@aws-sdk/client-s3";
import { createHash, randomInt } from "node:crypto";
import { assertSchema, ConfigError, formatIssue, prefixes, StorageManifestSchema, type StorageManifest } from "@supabase-backups/contracts";
import { errorMessage } from "../../runtime/errors";
import { listAll } from "../../vault/s3";
import { openVersion, VaultReadError, type ObjectPin } from "../../vault/versions";
import { listCompleteRuns, loadManifest } from "../../vault/runs";

/** How many of `n` blobs to re-hash: ceil(ratio × n), at least `min`, at most n. */
export function sampleSize(n: number, ratio: number, min: number): number {
    return Math.min(n, Math.max(min, Math.ceil(n * ratio)));
}

/** k distinct items chosen uniformly (partial Fisher–Yates). */
export function sample<T>(items: T[], k: number, rand: (max: number) => number = randomInt): T[] {
    const a = [...items];
    const n = Math.min(k, a.length);
    for (let i = 0; i < n; i++) {
        const j = i + rand(a.length - i);
        [a[i], a[j]] = [a[j], a[i]];
    }
    return a.slice(0, n);
}

export interface StorageVerifyResult {
    runId: string;
    blobsReferenced: number;
    blobsMissing: number;
    sampled: number;
    sampleMismatches: number;
    ok: boolean;
    detail: string;
    seconds: number;
}

async function hashObject(s3: S3Client, bucket: string, pin: ObjectPin, signal?: AbortSignal): Promise<string | undefined> {
    try {
        const r = await openVersion(s3, bucket, pin, { signal });
        const h = createHash("sha256");
        for await (const c of r.body) h.update(c);
        return h.digest("hex");
    } catch (e) {
        if (e instanceof VaultReadError && e.missing) return undefined;
        throw e;
    }
}

export async function verifyStorageRun(opts: {
    s3: S3Client;
    bucket: string;
    env: string;
    manifest: StorageManifest;
    ratio: number;
    min: number;
    concurrency?: number;
    signal?: AbortSignal;
}): Promise<StorageVerifyResult> {
    const started = Date.now();
    const { manifest } = opts;
    // One blob per distinct content; several objects may share it.
    const bySha = new Map<string, string>();
    const versionOf = new Map<string, string | undefined>();
    for (const o of manifest.objects) {
        bySha.set(o.sha256, o.blobKey);
        if (o.versionId || !versionOf.has(o.blobKey)) versionOf.set(o.blobKey, o.versionId);
    }
    const listed = new Set((await listAll(opts.s3, opts.bucket, prefixes.storageBlobs(opts.env))).map((o) => o.key));
    const missing = [...bySha.values()].filter((k) => !listed.has(k));
    const present = [...bySha.entries()].filter(([, k]) => listed.has(k));
    const picked = sample(present, sampleSize(present.length, opts.ratio, opts.min));
    const mismatches: string[] = [];
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 8, picked.length)) }, async () => {
            while (next < picked.length) {
                const [sha, key] = picked[next++];
                const got = await hashObject(opts.s3, opts.bucket, { key, versionId: versionOf.get(key) }, opts.signal);
                if (got !== sha) mismatches.push(key);
            }
        }),
    );
    const problems: string[] = [];
    if (missing.length) problems.push(`${missing.length} of ${bySha.size} blobs missing (e.g. ${missing[0]})`);
    if (mismatches.length) problems.push(`${mismatches.length} of ${picked.length} sampled blobs do not hash to their sha256 (e.g. ${mismatches[0]})`);
    return {
        runId: manifest.runId,
        blobsReferenced: bySha.size,
        blobsMissing: missing.length,
        sampled: picked.length,
        sampleMismatches: mismatches.length,
        ok: problems.length === 0,
        detail: problems.length
            ? `storage run ${manifest.runId}: ${problems.join("; ")}`
            : `storage run ${manifest.runId}: all ${bySha.size} blobs present, ${picked.length} re-hashed`,
        seconds: (Date.now() - started) / 1000,
    };
}

/** The newest complete storage run, checked; undefined when the env has none. An unreadable manifest fails the check. */
export async function verifyNewestStorage(opts: {
    s3: S3Client;
    bucket: string;
    env: string;
    ratio: number;
    min: number;
    signal?: AbortSignal;
}): Promise<StorageVerifyResult | undefined> {
    const runs = await listCompleteRuns(opts.s3, opts.bucket, opts.env, "storage");
    const last = runs[runs.length - 1];
    if (!last) return undefined;
    const t = Date.now();
    let manifest: StorageManifest;
    try {
        const loaded = await loadManifest<StorageManifest>(opts.s3, opts.bucket, last);
        manifest = assertSchema<StorageManifest>(StorageManifestSchema, loaded.manifest, last.manifestKey);
    } catch (err) {
        const detail = err instanceof ConfigError ? `invalid: ${formatIssue(err.issues[0])}` : errorMessage(err);
        return { runId: last.runId, blobsReferenced: 0, blobsMissing: 0, sampled: 0, sampleMismatches: 0, ok: false, detail: `storage run ${last.runId}: manifest ${detail}`, seconds: (Date.now() - t) / 1000 };
    }
    return verifyStorageRun({ ...opts, manifest });
}
