// Storage object lists (contracts object-list.ts) as streams: written through gzip to a multipart upload
// with the sha256 computed on the way, read at the version the manifest pins through gunzip, line by line,
// with order, count, size and sha256 checked. Neither side holds more than a few MiB, at any list size.
// Version-1 manifests (every entry inline) are read through the same `storageEntries`.
import { createHash } from "node:crypto";
import { PassThrough, Transform, type Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { createGunzip, createGzip } from "node:zlib";
import type { S3Client } from "@aws-sdk/client-s3";
import {
    compareStorageKeys,
    OBJECT_LIST_FORMAT,
    OBJECT_LIST_VERSION,
    objectListLine,
    type ObjectListHeader,
    type ObjectListRef,
    type StorageManifest,
    type StorageManifestWithObjects,
    type StorageObject,
    type StorageShardManifest,
} from "@supabase-backups/contracts";
import { sealUpload, type RecordWrite } from "./s3";
import { openVersion } from "./versions";
import { writeParams, type VaultTarget } from "./write-params";

// S3's smallest part, one in flight: a million-entry list (~70 MiB) must not hold more than ~10 MiB of
// parts; lists up to one part go up as a single PutObject.
const PART_SIZE = 5 * 1024 * 1024;

/**
 * A list being written: `add` entries in strictly increasing (bucket, name) order (out of order throws:
 * readers merge-compare it), then `close` for its reference. Awaiting `add` is the backpressure.
 */
export class ObjectListWriter {
    private readonly gzip = createGzip({ level: 1, chunkSize: 256 * 1024 });
    private readonly sha = createHash("sha256");
    private readonly body = new PassThrough({ highWaterMark: 1024 * 1024 });
    private readonly done: Promise<{ versionId?: string }>;
    private bytes = 0;
    private count = 0;
    private last: StorageObject | undefined;
    private pending: string[] = [];
    private pendingChars = 0;
    private failure: unknown;

    constructor(
        private readonly s3: S3Client,
        private readonly vault: VaultTarget,
        private readonly write: RecordWrite,
        header: Omit<ObjectListHeader, "format" | "version">,
    ) {
        const counted = new Transform({
            transform: (chunk: Buffer, _e, cb) => {
                this.sha.update(chunk);
                this.bytes += chunk.length;
                cb(null, chunk);
            },
        });
        this.gzip.pipe(counted).pipe(this.body);
        for (const s of [this.gzip, counted]) s.on("error", (e) => this.body.destroy(e));
        this.done = this.upload();
        this.done.catch((e) => (this.failure ??= e));
        this.pending.push(JSON.stringify({ format: OBJECT_LIST_FORMAT, version: OBJECT_LIST_VERSION, ...header }));
    }

    private async upload(): Promise<{ versionId?: string }> {
        // loaded only when a list is written (start-up time counts in every run)
        const { Upload } = require("@aws-sdk/lib-storage") as typeof import("@aws-sdk/lib-storage");
        const upload = new Upload({
            client: this.s3,
            partSize: PART_SIZE,
            queueSize: 1,
            leavePartsOnError: false,
            params: { ...writeParams(this.vault, { ...this.write, contentType: "application/x-ndjson" }), ContentEncoding: "gzip", Body: this.body },
        });
        const r = await upload.done();
        // only a multipart upload can have lost its lock and tags (see sealUpload)
        if ((upload as unknown as { isMultiPart?: boolean }).isMultiPart !== false) await sealUpload(this.s3, this.vault, this.write, r.VersionId);
        return { versionId: r.VersionId };
    }

    async add(o: StorageObject): Promise<void> {
        if (this.failure) throw this.failure;
        if (this.last && compareStorageKeys(this.last, o) >= 0) throw new Error(`object list ${this.write.key}: ${o.bucket}/${o.name} is not after ${this.last.bucket}/${this.last.name}`);
        this.last = o;
        this.count++;
        const line = objectListLine(o);
        this.pending.push(line);
        this.pendingChars += line.length;
        if (this.pendingChars >= 256 * 1024) await this.flush();
    }

    private async flush(): Promise<void> {
        if (!this.pending.length) return;
        const text = this.pending.join("\n") + "\n";
        this.pending = [];
        this.pendingChars = 0;
        if (!this.gzip.write(text)) await new Promise<void>((resolve, reject) => {
            const fail = (e: unknown) => reject(e);
            this.done.catch(fail);
            this.gzip.once("drain", () => resolve());
        });
    }

    /** Finish the upload; the reference a manifest records. */
    async close(): Promise<ObjectListRef> {
        await this.flush();
        this.gzip.end();
        const { versionId } = await this.done;
        return {
            key: this.write.key,
            ...(versionId && versionId !== "null" ? { versionId } : {}),
            sha256: this.sha.digest("hex"),
            bytes: this.bytes,
            count: this.count,
            encoding: "ndjson+gzip",
        };
    }

    /** Stop: the upload is aborted (no list object appears). */
    abort(e: Error): void {
        this.failure ??= e;
        this.gzip.destroy(e);
    }
}

/** Lines of a gunzipped stream, as strings. */
async function* lines(body: Readable): AsyncGenerator<string> {
    const dec = new StringDecoder("utf8");
    let rest = "";
    for await (const chunk of body) {
        const text = rest + dec.write(chunk as Buffer);
        let start = 0;
        for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", start)) {
            yield text.slice(start, i);
            start = i + 1;
        }
        rest = text.slice(start);
    }
    rest += dec.end();
    if (rest) yield rest;
}

function entryProblem(o: any): string | undefined {
    if (!o || typeof o !== "object") return "not an object";
    if (typeof o.bucket !== "string" || typeof o.name !== "string") return "no bucket/name";
    if (typeof o.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(o.sha256) || typeof o.blobKey !== "string") return "no sha256/blobKey";
    if (!Number.isInteger(o.size) || o.size < 0) return "no size";
    return undefined;
}

/**
 * The entries of a list, streamed from the version the manifest pins: header, order, count, stored size
 * and sha256 are checked (a mismatch throws, at the latest after the last entry: consumers that act on
 * entries must treat a throw as "this list cannot be trusted").
 */
export function readObjectList(s3: S3Client, bucket: string, ref: ObjectListRef, expect: { env: string; runId: string }): AsyncGenerator<StorageObject> {
    return readObjectListFrom(async () => (await openVersion(s3, bucket, { key: ref.key, versionId: ref.versionId })).body, ref, expect);
}

/** The same from any store (the Azure archive): `open` gives the list's stored bytes. */
export async function* readObjectListFrom(open: () => Promise<Readable>, ref: ObjectListRef, expect: { env: string; runId: string }): AsyncGenerator<StorageObject> {
    const r = { body: await open() };
    const sha = createHash("sha256");
    let bytes = 0;
    const gunzip = createGunzip({ chunkSize: 256 * 1024 });
    r.body.on("data", (c: Buffer) => {
        sha.update(c);
        bytes += c.length;
    });
    r.body.on("error", (e) => gunzip.destroy(e));
    r.body.pipe(gunzip);
    let header: ObjectListHeader | undefined;
    let last: StorageObject | undefined;
    let count = 0;
    try {
        for await (const line of lines(gunzip)) {
            if (!header) {
                header = JSON.parse(line) as ObjectListHeader;
                if (header.format !== OBJECT_LIST_FORMAT || header.env !== expect.env || header.runId !== expect.runId) {
                    throw new Error(`${ref.key}: not the object list of run ${expect.runId} (header ${line.slice(0, 200)})`);
                }
                continue;
            }
            const o = JSON.parse(line) as StorageObject;
            const bad = entryProblem(o);
            if (bad) throw new Error(`${ref.key}: entry ${count + 1}: ${bad}`);
            if (last && compareStorageKeys(last, o) >= 0) throw new Error(`${ref.key}: entry ${count + 1} (${o.bucket}/${o.name}) is out of order`);
            last = o;
            count++;
            yield o;
        }
    } finally {
        r.body.destroy();
    }
    const got = sha.digest("hex");
    if (!header || got !== ref.sha256 || bytes !== ref.bytes || count !== ref.count) {
        throw new Error(`${ref.key}: does not match its manifest (sha256 ${got.slice(0, 12)}…, ${bytes} bytes, ${count} entries; expected ${ref.sha256.slice(0, 12)}…, ${ref.bytes} bytes, ${ref.count} entries)`);
    }
}

async function* sortedArray(objects: StorageObject[]): AsyncGenerator<StorageObject> {
    // version 1 sorted by UTF-16 code units; merge-compare needs code-point order (they differ only for
    // names mixing characters above U+FFFF with U+E000–U+FFFF)
    yield* [...objects].sort(compareStorageKeys);
}

/** Every entry of a run or shard manifest, in (bucket, name) order: the inline array (version 1) or the list (version 2). */
export function storageEntries(s3: S3Client, bucket: string, m: Pick<StorageManifest | StorageShardManifest, "env" | "runId" | "objects" | "objectList">): AsyncGenerator<StorageObject> {
    return storageEntriesVia(m, (ref) => openVersion(s3, bucket, { key: ref.key, versionId: ref.versionId }).then((r) => r.body));
}

/** The same from any store (the Azure archive): `open` gives a list's stored bytes. */
export function storageEntriesVia(m: Pick<StorageManifest | StorageShardManifest, "env" | "runId" | "objects" | "objectList">, open: (ref: ObjectListRef) => Promise<Readable>): AsyncGenerator<StorageObject> {
    if (m.objectList) return readObjectListFrom(() => open(m.objectList!), m.objectList, { env: m.env, runId: m.runId });
    if (m.objects) return sortedArray(m.objects);
    throw new Error(`storage manifest of run ${m.runId} has neither objects nor an object list`);
}

/** A manifest with its entries in memory (for readers that hold a run's objects anyway: restore, tests). */
export function withObjects(s3: S3Client, bucket: string, m: StorageManifest): Promise<StorageManifestWithObjects> {
    return withObjectsVia(m, (ref) => openVersion(s3, bucket, { key: ref.key, versionId: ref.versionId }).then((r) => r.body));
}

/** The same from any store (the Azure archive): `open` gives a list's stored bytes. */
export async function withObjectsVia(m: StorageManifest, open: (ref: ObjectListRef) => Promise<Readable>): Promise<StorageManifestWithObjects> {
    if (m.objects) return m as StorageManifestWithObjects;
    if (!m.objectList) throw new Error(`storage manifest of run ${m.runId} has neither objects nor an object list`);
    const objects: StorageObject[] = [];
    for await (const o of readObjectListFrom(() => open(m.objectList!), m.objectList, { env: m.env, runId: m.runId })) objects.push(o);
    return { ...m, objects };
}

/** k sorted streams → one sorted stream (shard lists into a run list); a key in two streams throws. */
export async function* mergeSorted(streams: AsyncIterable<StorageObject>[]): AsyncGenerator<StorageObject> {
    const its = streams.map((s) => s[Symbol.asyncIterator]());
    const heads = await Promise.all(its.map((it) => it.next()));
    for (;;) {
        let min = -1;
        for (let i = 0; i < heads.length; i++) {
            if (heads[i].done) continue;
            if (min < 0) min = i;
            else {
                const c = compareStorageKeys(heads[i].value, heads[min].value);
                if (c === 0) throw new Error(`${heads[i].value.bucket}/${heads[i].value.name} is in two shards' lists`);
                if (c < 0) min = i;
            }
        }
        if (min < 0) return;
        yield heads[min].value as StorageObject;
        heads[min] = await its[min].next();
    }
}
