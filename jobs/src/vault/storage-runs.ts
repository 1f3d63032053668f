// Storage runs in the vault: shard assignment, run headers (tier without loading a whole manifest),
// merging shard manifests' records, bucket totals, and materializing a run's bucket state from the manifest (used by the tests,
// the `restore storage` command and the verify job).
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { Transform, type Readable } from "node:stream";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import {
    assertSafeObjectName,
    parseTierTag,
    compareStorageKeys,
    runIdTime,
    storageRunPrefix,
    TIERS,
    type StorageManifest,
    type StorageObject,
    type StorageShardManifest,
    type Tier,
} from "@supabase-backups/contracts";
import { getJson } from "./s3";
import { openVersion, VaultReadError } from "./versions";
import { tagOf } from "./thaw";
import type { RunRef } from "./runs";

/** Which of `count` shards an object belongs to: sha256("bucket/name"), first 4 bytes, mod count. */
export function shardOf(bucket: string, name: string, count: number): number {
    if (count <= 1) return 0;
    const h = createHash("sha256").update(bucket).update("/").update(name).digest();
    return h.readUInt32BE(0) % count;
}

/**
 * Manifest order: bucket, then name, by code point (the UTF-8 byte order of PostgreSQL's "C" collation,
 * which the listing uses; independent of the database's own collation). Version-1 manifests were sorted
 * by UTF-16 code units, which differs only for names mixing characters above U+FFFF with U+E000–U+FFFF.
 */
export const compareObjects = compareStorageKeys;

export function objectKey(bucket: string, name: string): string {
    return `${bucket}\u0000${name}`;
}

export interface RunHeader {
    runId: string;
    tier: Tier;
    startedAt: string;
    retainUntil?: string;
}

/**
 * The tier and start of a complete run from the first KiB of its manifest (the serializer writes these
 * fields first), so choosing the next tier does not download every manifest of the year.
 */
export async function readRunHeader(s3: S3Client, bucket: string, ref: RunRef): Promise<RunHeader | undefined> {
    let r: Awaited<ReturnType<typeof openVersion>>;
    try {
        r = await openVersion(s3, bucket, { key: ref.manifestKey }, { range: "bytes=0-2047" });
    } catch (e) {
        if (!(e instanceof VaultReadError) || e.kind !== "archived") throw e;
        return archivedRunHeader(s3, bucket, ref);
    }
    const chunks: Buffer[] = [];
    for await (const c of r.body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
    const head = Buffer.concat(chunks).toString("utf8");
    const tier = /"tier":\s*"([a-z]+)"/.exec(head)?.[1];
    const startedAt = /"startedAt":\s*"([^"]+)"/.exec(head)?.[1];
    const retain = /"retainUntil":\s*"([^"]+)"/.exec(head)?.[1];
    if (!tier || !(TIERS as readonly string[]).includes(tier) || !startedAt) {
        // Not in the first 2 KiB (a manifest written by another tool): read it all.
        const { value } = await getJson<StorageManifest>(s3, bucket, ref.manifestKey);
        return { runId: ref.runId, tier: value.tier, startedAt: value.startedAt, retainUntil: value.retainUntil };
    }
    return { runId: ref.runId, tier: tier as Tier, startedAt, retainUntil: retain };
}

/**
 * An archived manifest (a GLACIER one from before manifests stopped going cold) cannot be read without a
 * restore taking hours, but its tags can: the `tier` tag and the run id's time say what the header would.
 * Without a readable tier the run is left out (undefined): the next run may then take that tier again,
 * which keeps more, never less.
 */
async function archivedRunHeader(s3: S3Client, bucket: string, ref: RunRef): Promise<RunHeader | undefined> {
    // `storage-<tier>`: the lifecycle class of a tier a bucket keeps longer (contracts/bucket-retention.ts)
    const tier = parseTierTag(await tagOf(s3, bucket, { key: ref.manifestKey }, "tier"))?.tier;
    if (!tier) return undefined;
    return { runId: ref.runId, tier, startedAt: runIdTime(ref.runId).toISOString() };
}

/** Shard manifests present for a run, by index. */
export async function listShardManifests(s3: S3Client, bucket: string, env: string, runId: string): Promise<Map<number, { key: string; count: number }>> {
    const prefix = `${storageRunPrefix(env, runId)}shards/`;
    const out = new Map<number, { key: string; count: number }>();
    let token: string | undefined;
    do {
        const r = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of r.Contents ?? []) {
            const m = /shards\/(\d{4})-of-(\d{4})\.json$/.exec(o.Key ?? "");
            if (m) out.set(Number(m[1]), { key: o.Key!, count: Number(m[2]) });
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
}

/** Combine shard manifests' failures and counters (their object lists are merged as streams). Throws when one is missing. */
export function mergeShards(shards: StorageShardManifest[], count: number): Pick<StorageManifest, "failed" | "vanished" | "unsafe" | "stats"> & { startedAt: string; finishedAt: string } {
    const seen = new Set(shards.map((s) => s.shard.index));
    for (let i = 0; i < count; i++) if (!seen.has(i)) throw new Error(`shard ${i}/${count} has no shard manifest yet`);
    const failed = shards.flatMap((s) => s.failed).sort(compareObjects);
    const vanished = shards.flatMap((s) => s.vanished ?? []).sort(compareObjects);
    const unsafe = shards.flatMap((s) => s.unsafe ?? []).sort(compareObjects);
    const stats = { listed: 0, copied: 0, skipped: 0, deduplicated: 0, failed: 0, bytesUploaded: 0 };
    for (const s of shards) for (const k of Object.keys(stats) as (keyof typeof stats)[]) stats[k] += s.stats[k];
    return {
        failed,
        vanished,
        ...(unsafe.length ? { unsafe } : {}),
        stats,
        startedAt: shards.map((s) => s.startedAt).sort()[0],
        finishedAt: shards.map((s) => s.finishedAt).sort().slice(-1)[0],
    };
}

/** Per-bucket totals of a run's entries, counted as they are written. */
export class BucketTotals {
    readonly byBucket = new Map<string, { objects: number; bytes: number }>();
    /** entries without an archive record (the manifest's `archive.missing`, when an archive is on) */
    unarchived = 0;

    add(o: Pick<StorageObject, "bucket" | "size" | "archive">): void {
        if (!o.archive) this.unarchived++;
        const t = this.byBucket.get(o.bucket) ?? { objects: 0, bytes: 0 };
        t.objects++;
        t.bytes += o.size;
        this.byBucket.set(o.bucket, t);
    }

    /** The manifest's `buckets`: `names` lists buckets to include even when empty. */
    summary(names: string[]): StorageManifest["buckets"] {
        const m = new Map<string, { name: string; objects: number; bytes: number }>();
        for (const n of names) m.set(n, { name: n, objects: 0, bytes: 0 });
        for (const [name, t] of this.byBucket) m.set(name, { name, ...t });
        return [...m.values()].sort((a, b) => compareStorageKeys({ bucket: a.name, name: "" }, { bucket: b.name, name: "" }));
    }
}

export interface MaterializeOptions {
    /** only these buckets (default: all in the manifest) */
    buckets?: string[];
    /** only names starting with this prefix */
    prefix?: string;
    concurrency?: number;
    /** called once per object written */
    onObject?: (o: StorageObject) => void;
}

/** Verify bytes against the manifest's sha256 and size as they pass. */
function verifying(o: StorageObject): Transform {
    const h = createHash("sha256");
    let n = 0;
    return new Transform({
        transform(chunk: Buffer, _enc, cb) {
            h.update(chunk);
            n += chunk.length;
            cb(null, chunk);
        },
        flush(cb) {
            const sha = h.digest("hex");
            if (sha !== o.sha256 || n !== o.size) cb(new Error(`${o.bucket}/${o.name}: vault blob ${o.blobKey} does not match the manifest (sha256 ${sha.slice(0, 12)}…, ${n} bytes; expected ${o.sha256.slice(0, 12)}…, ${o.size} bytes)`));
            else cb();
        },
    });
}

/**
 * The state of the buckets at a run, from the vault alone: for every selected manifest entry, fetch its
 * blob, check sha256 and size, and hand the verified stream to `write`. The restore command writes to a
 * bucket; `materializeToDirectory` writes files. Errors stop the whole materialization (a restore must not
 * silently miss objects).
 */
export async function materializeRunState(
    s3: S3Client,
    vaultBucket: string,
    manifest: { objects: StorageObject[] },
    write: (o: StorageObject, body: Readable) => Promise<void>,
    opts: MaterializeOptions = {},
): Promise<{ objects: number; bytes: number }> {
    // the blob's version as its run recorded it (a later overwrite of the key is not read)
    return materializeFrom(async (o) => (await openVersion(s3, vaultBucket, { key: o.blobKey, versionId: o.versionId })).body, manifest, write, opts);
}

/** materializeRunState from any store: `open` gives a blob's bytes, checked here against sha256 and size. */
export async function materializeFrom(
    open: (o: StorageObject) => Promise<Readable>,
    manifest: { objects: StorageObject[] },
    write: (o: StorageObject, body: Readable) => Promise<void>,
    opts: MaterializeOptions = {},
): Promise<{ objects: number; bytes: number }> {
    const selected = manifest.objects.filter((o) => (!opts.buckets || opts.buckets.includes(o.bucket)) && (!opts.prefix || o.name.startsWith(opts.prefix)));
    let next = 0;
    let bytes = 0;
    let failed: unknown;
    const worker = async () => {
        while (next < selected.length && !failed) {
            const o = selected[next++];
            try {
                const body = (await open(o)).pipe(verifying(o));
                await write(o, body);
                bytes += o.size;
                opts.onObject?.(o);
            } catch (e) {
                failed ??= e;
            }
        }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 8, selected.length)) }, worker));
    if (failed) throw failed;
    return { objects: selected.length, bytes };
}

/** Write a run's state as files `<dir>/<bucket>/<name>` (names are checked to stay inside `dir`). */
export async function materializeToDirectory(
    s3: S3Client,
    vaultBucket: string,
    manifest: { objects: StorageObject[] },
    dir: string,
    opts: MaterializeOptions = {},
): Promise<{ objects: number; bytes: number }> {
    const root = resolve(dir);
    return materializeRunState(
        s3,
        vaultBucket,
        manifest,
        async (o, body) => {
            assertSafeObjectName(o.bucket, o.name);
            const path = resolve(join(root, o.bucket, o.name));
            if (!path.startsWith(root + sep)) throw new Error(`refusing to write ${o.bucket}/${o.name} outside ${root}`);
            await mkdir(dirname(path), { recursive: true });
            const tmp = `${path}.partial-${process.pid}`;
            try {
                await pipeline(body, createWriteStream(tmp));
                await rename(tmp, path);
            } catch (e) {
                await rm(tmp, { force: true });
                throw e;
            }
        },
        opts,
    );
}
