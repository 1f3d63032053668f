// Storage side of verify: for the newest complete storage run, every blob its manifest references
// exists in the vault, and a random sample (ratio, at least a minimum) is downloaded and re-hashed.
import type { S3Client } from "@aws-sdk/client-s3";
import { createHash, randomInt } from "node:crypto";
import type { ContainerClient } from "@azure/storage-blob";
import { assertSchema, ConfigError, formatIssue, prefixes, StorageManifestSchema, type JobConfig, type StorageManifest, type StorageManifestWithObjects } from "@supabase-backups/contracts";
import { createArchiveClient } from "../../vault/archive";
import { errorMessage } from "../../runtime/errors";
import { listAll } from "../../vault/s3";
import { openVersion, VaultReadError, VersionIndex, type ObjectPin, type Tampering } from "../../vault/versions";
import { listCompleteRuns, loadManifest } from "../../vault/runs";
import { withObjects } from "../../vault/object-list";

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
    /** the run's manifest or referenced blobs overwritten after sync-storage wrote them (read at their recorded versions) */
    tampered?: Tampering[];
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
    manifest: StorageManifestWithObjects;
    ratio: number;
    min: number;
    concurrency?: number;
    signal?: AbortSignal;
    /** every version under storage/<env>/ (when the store lists versions) */
    versions?: VersionIndex;
    /** the Azure archive: the sampled blobs' copies there (entries with an `archive` record) are re-hashed too */
    archive?: ContainerClient;
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
    const present = await presentBlobs(opts, versionOf);
    const missing = [...bySha.values()].filter((k) => !present.has(k));
    const there = [...bySha.entries()].filter(([, k]) => present.has(k));
    const picked = sample(there, sampleSize(there.length, opts.ratio, opts.min));
    const mismatches: string[] = [];
    const archived = new Map(manifest.objects.filter((o) => o.archive).map((o) => [o.blobKey, o.archive!.versionId]));
    const archiveProblems: string[] = [];
    let next = 0;
    await Promise.all(
        Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 8, picked.length)) }, async () => {
            while (next < picked.length) {
                const [sha, key] = picked[next++];
                const got = await hashObject(opts.s3, opts.bucket, { key, versionId: versionOf.get(key) }, opts.signal);
                if (got !== sha) mismatches.push(key);
                if (opts.archive && archived.has(key)) {
                    const copy = await hashArchive(opts.archive, key, archived.get(key), opts.signal);
                    if (copy !== sha) archiveProblems.push(`${key} ${copy === undefined ? "missing" : "differs"}`);
                }
            }
        }),
    );
    const problems: string[] = [];
    if (missing.length) problems.push(`${missing.length} of ${bySha.size} blobs missing (e.g. ${missing[0]})`);
    if (mismatches.length) problems.push(`${mismatches.length} of ${picked.length} sampled blobs do not hash to their sha256 (e.g. ${mismatches[0]})`);
    if (archiveProblems.length) problems.push(`Azure archive: ${archiveProblems.length} sampled blob copies missing or not hashing to their sha256 (e.g. ${archiveProblems[0]})`);
    return {
        runId: manifest.runId,
        blobsReferenced: bySha.size,
        blobsMissing: missing.length,
        sampled: picked.length,
        sampleMismatches: mismatches.length,
        tampered: [...versionOf].map(([k, v]) => opts.versions?.tampering(k, v)).filter((t): t is Tampering => !!t),
        ok: problems.length === 0,
        detail: problems.length
            ? `storage run ${manifest.runId}: ${problems.join("; ")}`
            : `storage run ${manifest.runId}: all ${bySha.size} blobs present, ${picked.length} re-hashed${opts.archive && archived.size ? " (with their Azure copies)" : ""}`,
        seconds: (Date.now() - started) / 1000,
    };
}

/**
 * The blobs a reader finds: with versions, every key with a data version the manifest can name (a
 * recorded version reads even under a delete marker); without, the plain listing.
 */
async function presentBlobs(opts: { s3: S3Client; bucket: string; env: string; versions?: VersionIndex }, versionOf: Map<string, string | undefined>): Promise<Set<string>> {
    const v = opts.versions;
    if (!v?.available) return new Set((await listAll(opts.s3, opts.bucket, prefixes.storageBlobs(opts.env))).map((o) => o.key));
    const out = new Set<string>();
    for (const [key, recorded] of versionOf) {
        const vs = v.versions(key);
        if (recorded ? vs.some((x) => x.versionId === recorded) : vs.length > 0 && !v.isHidden(key)) out.add(key);
    }
    return out;
}

/** An archive copy's sha256 at its recorded version (undefined: not there). */
async function hashArchive(c: ContainerClient, key: string, versionId: string | undefined, signal?: AbortSignal): Promise<string | undefined> {
    try {
        const b = c.getBlobClient(key);
        const r = await (versionId ? b.withVersion(versionId) : b).download(0, undefined, { abortSignal: signal });
        const h = createHash("sha256");
        for await (const chunk of r.readableStreamBody as NodeJS.ReadableStream) h.update(chunk as Buffer);
        return h.digest("hex");
    } catch (e) {
        if ((e as { statusCode?: number }).statusCode === 404) return undefined;
        throw e;
    }
}

/** The newest complete storage run, checked; undefined when the env has none. An unreadable manifest fails the check. */
export async function verifyNewestStorage(opts: {
    s3: S3Client;
    bucket: string;
    env: string;
    ratio: number;
    min: number;
    signal?: AbortSignal;
    /** the job config's archive target and the environment its credentials come from */
    archive?: { target: NonNullable<JobConfig["archive"]>; env: NodeJS.ProcessEnv };
}): Promise<StorageVerifyResult | undefined> {
    const runs = await listCompleteRuns(opts.s3, opts.bucket, opts.env, "storage");
    const last = runs[runs.length - 1];
    if (!last) return undefined;
    const t = Date.now();
    // one listing of every version under storage/<env>/: the manifest as written, the blobs, overwrites
    const versions = await VersionIndex.load(opts.s3, opts.bucket, prefixes.storage(opts.env));
    let manifest: StorageManifestWithObjects;
    try {
        const loaded = await loadManifest<StorageManifest>(opts.s3, opts.bucket, last, versions.pin(last.manifestKey).versionId);
        // a version-2 manifest's entries: its object list at the version it pins, sha256-checked
        manifest = await withObjects(opts.s3, opts.bucket, assertSchema<StorageManifest>(StorageManifestSchema, loaded.manifest, last.manifestKey));
    } catch (err) {
        const detail = err instanceof ConfigError ? `invalid: ${formatIssue(err.issues[0])}` : errorMessage(err);
        return { runId: last.runId, blobsReferenced: 0, blobsMissing: 0, sampled: 0, sampleMismatches: 0, ok: false, detail: `storage run ${last.runId}: manifest ${detail}`, seconds: (Date.now() - t) / 1000 };
    }
    const archive = opts.archive && manifest.objects.some((o) => o.archive) ? await createArchiveClient(opts.archive.target, opts.archive.env) : undefined;
    const result = await verifyStorageRun({ ...opts, manifest, versions, archive });
    const list = manifest.objectList;
    const overwritten = [versions.tampering(last.manifestKey), list ? versions.tampering(list.key, list.versionId) : undefined].filter((t): t is Tampering => !!t);
    return overwritten.length ? { ...result, tampered: [...overwritten, ...(result.tampered ?? [])] } : result;
}
